namespace OrleansMigrate.Agents;

/// <summary>Data-plane settings of one migration, from its policy.</summary>
/// <param name="DowntimeTargetMs">The pre-last-copy stage waits until the final copy is estimated to fit this (0.1–60,000).</param>
/// <param name="LinkBandwidthBytesPerSecond">Cap on the migration stream (emulates the link), bytes/s.</param>
/// <param name="Compression">Which copies are compressed.</param>
/// <param name="MaxPreCopyMs">Longest pre-copy (the policy's completion timeout); at it, or at <paramref name="MaxRounds"/>,
/// the data plane itself applies <paramref name="OnTimeout"/>.</param>
/// <param name="ContinueAtPause">Start the final copy on the host the moment the source pauses (parallel switchover),
/// instead of waiting for the migration grain's call: the cloud actions run alongside it, and the destination
/// still resumes only on the grain's word.</param>
/// <param name="AutoConverge">Let the hypervisor throttle the guest's vCPUs when pre-copy does not converge (QEMU auto-converge).</param>
/// <param name="OnTimeout">The policy's action at the pre-copy limit: abort (the data plane fails the migration, the VM keeps
/// running on the source) or force (switch over anyway, accepting a longer downtime).</param>
/// <param name="Policy">The policy's name, for the reason of a limit abort; null names none.</param>
/// <param name="MigrationChannels">QEMU: 1 is the classic single migration stream, 2–16 is multifd with that many channels,
/// set on the source before <c>migrate</c> and on the destination before <c>migrate-incoming</c> (the destination gets this
/// tuning in its prepare call). Our own pre-copy engine always sends one stream and ignores it.</param>
/// <param name="SkipSessionCopy">The destination takes none of the VM's sessions (<c>Cloud:Sessions:Backend=conntrack</c>): it
/// announces no session address at prepare, so the source sends no rounds (<see cref="Migration.OrchestrationMode.NoSessionCopy"/>,
/// for comparison). False, the default, copies them: a tuning from a sender that predates the field still does.</param>
/// <param name="PostCopy">The policy allows the switch to post-copy (QEMU; set on both sides): a forced switchover of a pre-copy
/// that does not converge (the stall detector's, or the time limit's with force) switches to post-copy instead.</param>
/// <param name="RelayIps">The VM NICs' addresses whose relays this migration staged on the source host (parallel modes
/// with the relay): a source host whose VM NICs are its own taps switches them on itself the instant the VM pauses, so
/// packets that reach it during the downtime go on to the destination instead of into the paused guest's tap. Null or
/// empty: none (the destination's switchover still enables every staged relay through the network manager).</param>
[GenerateSerializer, Immutable]
[Alias("omig.MigrationTuning")]
public sealed record MigrationTuning(
    [property: Id(0)] double DowntimeTargetMs = 20,
    [property: Id(1)] long LinkBandwidthBytesPerSecond = 1_250_000_000,
    [property: Id(2)] CompressionScope Compression = CompressionScope.Final,
    [property: Id(3)] bool PreLastCopy = true,
    [property: Id(4)] int MaxRounds = 30,
    [property: Id(5)] double MaxPreCopyMs = 120_000,
    [property: Id(6)] bool ContinueAtPause = false,
    [property: Id(7)] bool AutoConverge = false,
    [property: Id(8)] TimeoutAction OnTimeout = TimeoutAction.Force,
    [property: Id(9)] string? Policy = null,
    [property: Id(10)] int MigrationChannels = 1,
    [property: Id(11)] bool SkipSessionCopy = false,
    [property: Id(12)] bool PostCopy = false,
    [property: Id(13)] string[]? RelayIps = null);
