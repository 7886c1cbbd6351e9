namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>A migration as the hypervisor itself measured it (QEMU's <c>query-migrate</c> and its event times), for
/// drivers whose engine is not ours. Times in ms, sizes in bytes; null where the hypervisor has not said yet.</summary>
/// <param name="DowntimeMs">Downtime as the hypervisor measured it, once completed.</param>
/// <param name="TotalMs">From the start to completion (or so far).</param>
/// <param name="SetupMs">Setup phase.</param>
/// <param name="TransferredBytes">Memory bytes transferred.</param>
/// <param name="DirtySyncCount">Passes over memory (dirty-bitmap syncs).</param>
/// <param name="DirtyRateBytesPerSecond">Dirty rate at the last sync.</param>
/// <param name="ThroughputBytesPerSecond">Transfer throughput.</param>
/// <param name="CpuThrottlePercent">vCPU throttle applied to force convergence, when active.</param>
/// <param name="PauseHoldMs">How long the paused source waited for the control plane's go-ahead.</param>
/// <param name="DeviceStageMs">From the go-ahead to the source's completion (the device stage).</param>
/// <param name="StopMs">From the source's stop to its pause-before-switchover (stopping vCPUs, draining block I/O).</param>
/// <param name="Channels">Streams the migration runs on: QEMU's multifd channels, 1 for the classic single stream.</param>
/// <param name="PostCopyMs">QEMU: how long post-copy ran (the destination running while the source still sent pages), from
/// the switch to the last page or to the failure that ended it; null when the migration did not switch to post-copy.</param>
public sealed record HypervisorStatistics(
    double? DowntimeMs,
    double? TotalMs,
    double? SetupMs,
    long TransferredBytes,
    long DirtySyncCount,
    double DirtyRateBytesPerSecond,
    double ThroughputBytesPerSecond,
    int CpuThrottlePercent,
    double? PauseHoldMs,
    double? DeviceStageMs,
    double? StopMs,
    int Channels = 1,
    double? PostCopyMs = null);
