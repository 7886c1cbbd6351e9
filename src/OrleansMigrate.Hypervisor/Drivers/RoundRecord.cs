namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>One iterative round (the final copy is reported in <see cref="FinalCopyResult"/>).</summary>
/// <param name="Number">1-based; round 1 is the bulk copy of all memory.</param>
/// <param name="Stage">Pre-copy or pre-last-copy.</param>
/// <param name="StartedAtMs">Since the migration started, in ms.</param>
/// <param name="DurationMs">From harvesting the dirty bitmap to the last byte of the round on the (emulated) link, in ms.</param>
/// <param name="Pages">Pages sent, zero pages included.</param>
/// <param name="ZeroPages">Pages sent as a zero marker only (no 4 KiB body).</param>
/// <param name="WireBytes">Bytes on the wire for the round (headers, page bodies, session delta).</param>
/// <param name="SessionEntries">Session-table delta records sent in the round.</param>
/// <param name="DirtiedPages">Distinct pages the guest dirtied while the round was sent.</param>
/// <param name="DirtyRateBytesPerSecond"><paramref name="DirtiedPages"/> × 4096 / duration.</param>
/// <param name="BandwidthBytesPerSecond"><paramref name="WireBytes"/> / duration.</param>
/// <param name="EstimatedDowntimeMs">Estimated final copy at the end of the round, in ms.</param>
public sealed record RoundRecord(
    int Number,
    RoundStage Stage,
    double StartedAtMs,
    double DurationMs,
    long Pages,
    long ZeroPages,
    long WireBytes,
    int SessionEntries,
    long DirtiedPages,
    double DirtyRateBytesPerSecond,
    double BandwidthBytesPerSecond,
    double EstimatedDowntimeMs);
