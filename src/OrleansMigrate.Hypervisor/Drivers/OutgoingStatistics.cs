namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Source-side totals of one migration.</summary>
/// <param name="BytesSent">Wire bytes, headers included.</param>
/// <param name="FramesSent">Frames written.</param>
/// <param name="PagesSent">Pages sent over all rounds and the final copy (zero pages included).</param>
/// <param name="ZeroPagesSent">Pages sent as zero markers.</param>
/// <param name="CompressedRawBytes">Uncompressed bytes of the frames that went compressed.</param>
/// <param name="CompressedWireBytes">Wire payload bytes of those frames.</param>
/// <param name="CompressionCpuSeconds">Source CPU time in LZ4 encode (thread CPU time where the OS reports it).</param>
/// <param name="BulkCopyBytesPerSecond">Wire throughput of round 1 (the bulk copy).</param>
public sealed record OutgoingStatistics(
    long BytesSent,
    long FramesSent,
    long PagesSent,
    long ZeroPagesSent,
    long CompressedRawBytes,
    long CompressedWireBytes,
    double CompressionCpuSeconds,
    double BulkCopyBytesPerSecond);
