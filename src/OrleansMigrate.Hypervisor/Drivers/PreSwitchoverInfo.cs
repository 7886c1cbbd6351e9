namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>The source VM is paused and ready for the final copy.</summary>
/// <param name="Reason">Why pre-copy stopped.</param>
/// <param name="Rounds">Rounds sent before the pause (pre-copy and pre-last-copy).</param>
/// <param name="PendingPages">Dirty pages the final copy will carry.</param>
/// <param name="EstimatedDowntimeMs">Estimated final copy, in ms.</param>
/// <param name="PreCopyMs">From the start of the bulk round to the end of pre-copy, in ms.</param>
/// <param name="PreLastCopyMs">Time spent in the pre-last-copy stage, in ms.</param>
/// <param name="PauseRequestedTimestamp">When the VM was told to stop (the start of the downtime), in <see cref="TimeProvider.GetTimestamp"/> ticks of the source driver.</param>
/// <param name="PausedTimestamp">When every vCPU/workload thread had stopped, same clock.</param>
/// <param name="PausedAtUtc">Wall-clock time of the pause request, for cross-host correlation.</param>
public sealed record PreSwitchoverInfo(
    SwitchoverReason Reason,
    int Rounds,
    long PendingPages,
    double EstimatedDowntimeMs,
    double PreCopyMs,
    double PreLastCopyMs,
    long PauseRequestedTimestamp,
    long PausedTimestamp,
    DateTimeOffset PausedAtUtc);
