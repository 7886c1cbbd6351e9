namespace OrleansMigrate.Migration;

/// <summary>What a cold move did: how the guest stopped on the source and when it ran again on the destination.</summary>
/// <param name="WasRunning">The VM ran when the move began (it was shut down and started again); false: it was stopped
/// and stays stopped, so it has no downtime.</param>
/// <param name="Graceful">The guest powered off by itself after the ACPI power-down request (QEMU <c>system_powerdown</c>);
/// false: it did not within <paramref name="ShutdownTimeoutMs"/> and was stopped hard (QEMU <c>quit</c>). Null before the
/// shutdown or for a stopped VM.</param>
/// <param name="ShutdownTimeoutMs">How long the guest was given to power off by itself (the policy's
/// <c>ColdShutdownTimeoutMs</c>), in ms.</param>
/// <param name="ShutdownMs">Power-down request to stopped, in ms (about <paramref name="ShutdownTimeoutMs"/> when it was
/// stopped hard); null before the shutdown.</param>
/// <param name="StoppedAtUtc">When the guest stopped on the source (the downtime's start).</param>
/// <param name="RunningAtUtc">When the destination's hypervisor ran it (the downtime's end, the commit point).</param>
[GenerateSerializer, Immutable]
[Alias("omig.ColdMoveReport")]
public sealed record ColdMoveReport(
    [property: Id(0)] bool WasRunning,
    [property: Id(1)] bool? Graceful,
    [property: Id(2)] double ShutdownTimeoutMs,
    [property: Id(3)] double? ShutdownMs = null,
    [property: Id(4)] DateTimeOffset? StoppedAtUtc = null,
    [property: Id(5)] DateTimeOffset? RunningAtUtc = null,
    [property: Id(6)] bool OwnerNotified = false)
{
    /// <summary>Stopped on the source to running on the destination, in ms; null until the destination runs it (and for a
    /// VM that was stopped).</summary>
    public double? DowntimeMs => StoppedAtUtc is { } s && RunningAtUtc is { } r ? Math.Max(0, (r - s).TotalMilliseconds) : null;
}
