namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Source-side progress, as QMP's <c>query-migrate</c> reports it.</summary>
/// <param name="State">Current phase.</param>
/// <param name="Round">Rounds started so far (1 = bulk round), counting pre-last-copy rounds.</param>
/// <param name="ElapsedMs">Since the migration started, in ms.</param>
/// <param name="BytesSent">Bytes written to the wire so far (frame headers included).</param>
/// <param name="PagesSent">4 KiB pages sent so far, zero pages included.</param>
/// <param name="PagesRemaining">Pages currently dirty (would go in the next round or the final copy).</param>
/// <param name="BytesRemaining"><paramref name="PagesRemaining"/> × 4096.</param>
/// <param name="DirtyRateBytesPerSecond">Distinct pages dirtied per second × 4096, measured over the last round.</param>
/// <param name="BandwidthBytesPerSecond">Measured wire throughput of pre-copy so far.</param>
/// <param name="ExpectedDowntimeMs">Estimated final copy if the VM paused now, in ms.</param>
public sealed record MigrationProgress(
    OutgoingMigrationState State,
    int Round,
    double ElapsedMs,
    long BytesSent,
    long PagesSent,
    long PagesRemaining,
    long BytesRemaining,
    double DirtyRateBytesPerSecond,
    double BandwidthBytesPerSecond,
    double ExpectedDowntimeMs);
