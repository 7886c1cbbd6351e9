namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>
/// The pre-last-copy stage: once pre-copy wants to switch over, keep iterating while the estimated
/// final copy exceeds the downtime target (a load surge), bounded by <see cref="MaxWaitMs"/>, so the
/// VM is not frozen at a bad moment.
/// </summary>
public sealed record PreLastCopyOptions
{
    /// <summary>False turns the stage off (pre-copy pauses as soon as it converges or hits a limit).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// Shortest observation before the stage lets the VM pause, in ms (0..10000): the estimate must fit the
    /// target at the end of a round after at least this long in the stage. The dirty rate it records is
    /// measured over this window.
    /// </summary>
    public double ObservationWindowMs { get; init; } = 30;

    /// <summary>Longest the stage may delay switchover, in ms (0..600000); then it switches over regardless.</summary>
    public double MaxWaitMs { get; init; } = 5_000;

    /// <summary>Pause between near-empty rounds while observing, in ms (0..100), so an idle guest does not spin a core.</summary>
    public double PollIntervalMs { get; init; } = 1;

    public void Validate()
    {
        if (ObservationWindowMs is < 0 or > 10_000)
            throw new ArgumentException($"PreLastCopyOptions.ObservationWindowMs out of range: {ObservationWindowMs}.", nameof(ObservationWindowMs));
        if (MaxWaitMs is < 0 or > 600_000)
            throw new ArgumentException($"PreLastCopyOptions.MaxWaitMs out of range: {MaxWaitMs}.", nameof(MaxWaitMs));
        if (PollIntervalMs is < 0 or > 100)
            throw new ArgumentException($"PreLastCopyOptions.PollIntervalMs out of range: {PollIntervalMs}.", nameof(PollIntervalMs));
    }
}
