namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>
/// One decision of the pre-last-copy stage. Consecutive checks with the same verdict and reason are folded
/// into one record (<see cref="Checks"/> counts them; the figures are those of the last check).
/// </summary>
/// <param name="AtMs">Since the migration started, in ms.</param>
/// <param name="StageElapsedMs">Since the stage started, in ms.</param>
/// <param name="DirtyRateBytesPerSecond">Distinct pages dirtied per second × 4096 over the observation window.</param>
/// <param name="PendingBytes">Dirty bytes that the final copy would carry if the VM paused now.</param>
/// <param name="EstimatedFinalCopyMs">Estimated downtime if the VM paused now, in ms.</param>
/// <param name="Verdict">The decision.</param>
/// <param name="Reason">Why, in words, with the figures that decided it.</param>
/// <param name="Checks">How many consecutive checks this record stands for.</param>
public sealed record PreLastCopyDecision(
    double AtMs,
    double StageElapsedMs,
    double DirtyRateBytesPerSecond,
    long PendingBytes,
    double EstimatedFinalCopyMs,
    PreLastCopyVerdict Verdict,
    string Reason,
    int Checks);
