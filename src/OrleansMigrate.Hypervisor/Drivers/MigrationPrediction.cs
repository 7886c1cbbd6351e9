namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>How a predicted migration ends.</summary>
public enum MigrationPredictionOutcome
{
    /// <summary>Pre-copy reaches the downtime target on its own (no throttling, no forced switchover).</summary>
    Converges,

    /// <summary>Pre-copy hits its round or time limit and switches over anyway (<see cref="PreCopyLimitAction.ForceSwitchover"/>): longer downtime.</summary>
    ForcedSwitchover,

    /// <summary>Pre-copy hits its limit with <see cref="PreCopyLimitAction.Fail"/>: the migration fails and the VM stays on the source.</summary>
    Fails,
}

/// <summary>The result of <see cref="MigrationPredictor.Predict(MigrationPredictionInput)"/>.</summary>
/// <param name="Outcome">Converges, forced switchover, or fails.</param>
/// <param name="ConvergesWithoutThrottling">True when pre-copy alone reaches the downtime target.</param>
/// <param name="DowntimeWithinTarget">True when the expected downtime is at or under the downtime target.</param>
/// <param name="SwitchoverReason">Why pre-copy is expected to stop.</param>
/// <param name="Rounds">Pre-copy rounds, the bulk round included.</param>
/// <param name="PreLastCopyRounds">Rounds of the pre-last-copy stage.</param>
/// <param name="PreCopyMs">Pre-copy duration, in ms.</param>
/// <param name="PreLastCopyMs">Pre-last-copy stage duration, in ms.</param>
/// <param name="TotalMs">Start → destination resumed, in ms (NaN when the migration fails).</param>
/// <param name="DowntimeMs">Expected downtime (pause → resume), in ms (NaN when the migration fails).</param>
/// <param name="FinalCopyPages">Dirty pages left for the final copy.</param>
/// <param name="FinalCopyBytes">Predicted wire bytes of the final copy (pages after compression, session delta, device state).</param>
/// <param name="BytesSent">Predicted wire bytes of the whole migration.</param>
/// <param name="EffectiveBandwidthBytesPerSecond">Link cap, or the engine's throughput when that is lower.</param>
/// <param name="DirtyToLinkRatio">Dirty bytes/s over the effective bandwidth (≥ 1: pre-copy cannot catch up with a writer of the whole memory).</param>
/// <param name="Reason">One sentence for the operator.</param>
public sealed record MigrationPrediction(
    MigrationPredictionOutcome Outcome,
    bool ConvergesWithoutThrottling,
    bool DowntimeWithinTarget,
    SwitchoverReason SwitchoverReason,
    int Rounds,
    int PreLastCopyRounds,
    double PreCopyMs,
    double PreLastCopyMs,
    double TotalMs,
    double DowntimeMs,
    long FinalCopyPages,
    long FinalCopyBytes,
    long BytesSent,
    double EffectiveBandwidthBytesPerSecond,
    double DirtyToLinkRatio,
    string Reason);
