namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>The stop-and-copy, as the source saw it. Timestamps are <see cref="TimeProvider.GetTimestamp"/> ticks of the source driver.</summary>
/// <param name="Pages">Dirty pages in the final copy, zero pages included.</param>
/// <param name="ZeroPages">Pages sent as zero markers.</param>
/// <param name="RawBytes">Uncompressed payload bytes of the page frames.</param>
/// <param name="WireBytes">Bytes on the wire for the whole final copy (pages, session delta, device state, end marker).</param>
/// <param name="CompressedBytes">Wire bytes of the page frames that went LZ4-compressed.</param>
/// <param name="DeviceStateBytes">Size of the device-state blob.</param>
/// <param name="SessionDeltaEntries">Session-table records in the last delta (upserts and deletions).</param>
/// <param name="SessionDeltaBytes">Uncompressed size of those records.</param>
/// <param name="CompressionCpuSeconds">Source CPU time spent in LZ4 for the final copy.</param>
/// <param name="StartedTimestamp">When the final copy started (dirty bitmap harvested right after).</param>
/// <param name="PagesWrittenTimestamp">When the last page frame left for the wire.</param>
/// <param name="SessionDeltaWrittenTimestamp">When the last session-delta frame left.</param>
/// <param name="DeviceStateWrittenTimestamp">When the device-state frame left.</param>
/// <param name="EndWrittenTimestamp">When the end marker left, after the emulated link drained.</param>
/// <param name="AcknowledgedTimestamp">When the destination's acknowledgement arrived.</param>
public sealed record FinalCopyResult(
    long Pages,
    long ZeroPages,
    long RawBytes,
    long WireBytes,
    long CompressedBytes,
    int DeviceStateBytes,
    int SessionDeltaEntries,
    int SessionDeltaBytes,
    double CompressionCpuSeconds,
    long StartedTimestamp,
    long PagesWrittenTimestamp,
    long SessionDeltaWrittenTimestamp,
    long DeviceStateWrittenTimestamp,
    long EndWrittenTimestamp,
    long AcknowledgedTimestamp);
