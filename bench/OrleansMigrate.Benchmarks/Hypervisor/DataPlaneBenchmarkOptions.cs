namespace OrleansMigrate.Hypervisor.Bench;

/// <summary>Settings of <see cref="DataPlaneBenchmark.RunAsync"/> (<c>omig bench dataplane</c>).</summary>
public sealed record DataPlaneBenchmarkOptions
{
    /// <summary>Measured runs of every case except the surge pair (1..1000).</summary>
    public int RunsPerCase { get; init; } = 5;

    /// <summary>Measured runs of each surge case (1..1000); percentiles need at least 20.</summary>
    public int SurgeRuns { get; init; } = 20;

    /// <summary>
    /// Case names to run, comma-separated; a name ending in '*' is a prefix (e.g. "compress-*"). Null runs
    /// every case.
    /// </summary>
    public string? CaseFilter { get; init; }

    /// <summary>Guest size for every case instead of its own, in MiB (16..16384); for quick runs.</summary>
    public int? GuestMiBOverride { get; init; }

    /// <summary>Small discarded migrations before measuring, one per compression mode and stage setting (0..10), so JIT compilation stays out of the figures.</summary>
    public int WarmupRounds { get; init; } = 1;

    /// <summary>Downtime target of every case, in ms.</summary>
    public double DowntimeTargetMs { get; init; } = Drivers.MigrationOptions.DefaultDowntimeTargetMs;

    /// <summary>Where to write the JSON; null writes nothing.</summary>
    public string? OutputPath { get; init; }

    /// <summary>Progress lines (one per run), e.g. for the CLI; null is silent.</summary>
    public Action<string>? Log { get; init; }

    public void Validate()
    {
        if (RunsPerCase is < 1 or > 1000)
            throw new ArgumentException($"RunsPerCase must be in 1..1000, was {RunsPerCase}.");
        if (SurgeRuns is < 1 or > 1000)
            throw new ArgumentException($"SurgeRuns must be in 1..1000, was {SurgeRuns}.");
        if (GuestMiBOverride is < 16 or > 16384)
            throw new ArgumentException($"GuestMiBOverride must be in 16..16384, was {GuestMiBOverride}.");
        if (WarmupRounds is < 0 or > 10)
            throw new ArgumentException($"WarmupRounds must be in 0..10, was {WarmupRounds}.");
        if (DowntimeTargetMs is < 0.1 or > 60_000)
            throw new ArgumentException($"DowntimeTargetMs must be in 0.1..60000, was {DowntimeTargetMs}.");
    }
}
