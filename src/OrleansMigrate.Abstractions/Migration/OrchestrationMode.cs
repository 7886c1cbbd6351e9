namespace OrleansMigrate.Migration;

/// <summary>How a migration orchestrates its cloud work around the downtime. Written snake_case on the API and in
/// <c>--json</c> (<c>no_relay</c>); the CLI's <c>--mode</c> also takes the kebab spelling (<c>no-relay</c>).</summary>
public enum OrchestrationMode
{
    /// <summary>The seed's design: slow cloud work before the freeze or after the resume, the critical path in parallel.</summary>
    Parallel = 0,
    /// <summary>The naive design, kept for comparison: steps one after another, disk close/reopen and flow
    /// installation inside the downtime, no relay.</summary>
    Serial = 1,
    /// <summary>For comparison: <see cref="Parallel"/> without the relay. Nothing is staged at prepare and no relay is
    /// enabled in the switchover; packets reach the destination only once the flows are re-pointed after the commit, so
    /// the benchmark shows what the relay saves.</summary>
    NoRelay = 2,
    /// <summary>For comparison: <see cref="Parallel"/> without copying the VM's session table (conntrack entries) to the
    /// destination, so the benchmark shows what the session rounds save.</summary>
    NoSessionCopy = 3,
}
