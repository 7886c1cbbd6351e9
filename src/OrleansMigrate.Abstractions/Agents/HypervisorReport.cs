namespace OrleansMigrate.Agents;

/// <summary>The hypervisor's own account of a finished migration (QEMU: <c>query-migrate</c> after completion).</summary>
/// <param name="Driver">Which driver ran it (<c>qemu</c>, <c>simulated</c>).</param>
/// <param name="DowntimeMs">Downtime as the hypervisor measured it (QEMU: vCPUs stopped until the source finished sending).</param>
/// <param name="TotalMs">Whole migration as the hypervisor measured it.</param>
/// <param name="SetupMs">Setup phase.</param>
/// <param name="TransferredBytes">Guest memory bytes sent.</param>
/// <param name="DirtySyncCount">Passes over the dirty bitmap.</param>
/// <param name="DirtyRateBytesPerSecond">Dirty rate at the last sample.</param>
/// <param name="ThroughputBytesPerSecond">Migration stream throughput.</param>
/// <param name="CpuThrottlePercent">Auto-converge's vCPU throttle at the end (0 when off).</param>
/// <param name="PauseHoldMs">QEMU: how long the paused source waited in <c>pre-switchover</c> for the control plane's <c>migrate-continue</c>.</param>
/// <param name="StopMs">QEMU: from the STOP event to <c>pre-switchover</c> (vCPUs stopped, block I/O drained and flushed).</param>
/// <param name="DeviceStageMs">QEMU: <c>migrate-continue</c> to the source's <c>completed</c> (last RAM and device state).</param>
/// <param name="MigrationChannels">Streams the migration ran on: QEMU's multifd channels (set on both sides), 1 for QEMU's
/// classic single stream and for our own pre-copy engine (one stream, whatever the policy asks); null in a report stored
/// before the field.</param>
/// <param name="PostCopyMs">QEMU: how long the migration ran in post-copy (the destination running while the source still sent
/// pages), until the last page or the failure; null when it did not switch to post-copy.</param>
/// <param name="PostCopyFailure">Why a post-copy failed before the last page: the VM is lost (neither host holds all of it);
/// null when it did not fail.</param>
[GenerateSerializer, Immutable]
[Alias("omig.HypervisorReport")]
public sealed record HypervisorReport(
    [property: Id(0)] string Driver,
    [property: Id(1)] double? DowntimeMs,
    [property: Id(2)] double? TotalMs,
    [property: Id(3)] double? SetupMs,
    [property: Id(4)] long TransferredBytes,
    [property: Id(5)] long DirtySyncCount,
    [property: Id(6)] double DirtyRateBytesPerSecond,
    [property: Id(7)] double ThroughputBytesPerSecond,
    [property: Id(8)] int CpuThrottlePercent,
    [property: Id(9)] double? PauseHoldMs = null,
    [property: Id(10)] double? DeviceStageMs = null,
    [property: Id(11)] double? StopMs = null,
    [property: Id(12)] int? MigrationChannels = null,
    [property: Id(13)] double? PostCopyMs = null,
    [property: Id(14)] string? PostCopyFailure = null);
