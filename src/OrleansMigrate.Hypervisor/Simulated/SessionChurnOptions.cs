namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>The VM's session table and the churn of its connections.</summary>
public sealed record SessionChurnOptions
{
    /// <summary>Sessions created at boot (0..1000000).</summary>
    public int InitialSessions { get; init; } = 4096;

    /// <summary>Table operations per second (0..1000000): new sessions, updates of counters and state, expiries.</summary>
    public double ChurnPerSecond { get; init; } = 2000;

    /// <summary>Share of operations that create a session (0..1).</summary>
    public double NewFraction { get; init; } = 0.25;

    /// <summary>Share of operations that expire a session (0..1); the rest update one.</summary>
    public double ExpireFraction { get; init; } = 0.25;

    public void Validate()
    {
        if (InitialSessions is < 0 or > 1_000_000 || ChurnPerSecond is < 0 or > 1_000_000)
            throw new ArgumentException($"Session churn out of range: {InitialSessions} sessions, {ChurnPerSecond}/s.");
        if (NewFraction < 0 || ExpireFraction < 0 || NewFraction + ExpireFraction > 1)
            throw new ArgumentException($"Session churn fractions out of range: new {NewFraction}, expire {ExpireFraction}.");
    }
}
