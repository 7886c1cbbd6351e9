using OrleansMigrate.Client;

namespace OrleansMigrate.Grains.Audit;

/// <summary>Persisted state of <see cref="InvariantAuditorGrain"/>, so a new activation (after a deactivation or the death of
/// its silo) continues the counters and shows the last report. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.InvariantAuditorState")]
public sealed class InvariantAuditorState
{
    [Id(0)] public long Passes { get; set; }

    [Id(1)] public long FailedPasses { get; set; }

    /// <summary>Start of the last completed pass.</summary>
    [Id(2)] public DateTimeOffset? LastPassAt { get; set; }

    [Id(3)] public double LastPassDurationMs { get; set; }

    [Id(4)] public AuditReport? LastReport { get; set; }

    [Id(5)] public string? LastError { get; set; }

    /// <summary>Start of the last pass, completed or not: when the next one is due.</summary>
    [Id(6)] public DateTimeOffset? LastAttemptAt { get; set; }
}
