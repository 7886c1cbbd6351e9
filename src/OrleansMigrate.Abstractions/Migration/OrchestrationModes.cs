namespace OrleansMigrate.Migration;

/// <summary>What each <see cref="OrchestrationMode"/> does, asked in one place so a new comparison mode cannot be
/// half-handled: the comparison modes are <see cref="OrchestrationMode.Parallel"/> with one technique left out.</summary>
public static class OrchestrationModes
{
    /// <summary>The slow cloud work before the freeze and the critical path in parallel: every mode but <see cref="OrchestrationMode.Serial"/>.</summary>
    public static bool IsParallel(this OrchestrationMode mode) => mode != OrchestrationMode.Serial;

    /// <summary>A relay is staged at prepare and enabled in the switchover: <see cref="OrchestrationMode.Parallel"/> and
    /// <see cref="OrchestrationMode.NoSessionCopy"/>.</summary>
    public static bool UsesRelay(this OrchestrationMode mode) => mode is OrchestrationMode.Parallel or OrchestrationMode.NoSessionCopy;

    /// <summary>The VM's session table is copied to the destination (when the hosts copy sessions at all): every mode but
    /// <see cref="OrchestrationMode.NoSessionCopy"/>.</summary>
    public static bool CopiesSessions(this OrchestrationMode mode) => mode != OrchestrationMode.NoSessionCopy;
}
