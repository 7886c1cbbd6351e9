namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>The stream was fully received and applied; the destination VM can resume.</summary>
/// <param name="FramesReceived">Frames received from the source.</param>
/// <param name="BytesReceived">Bytes received, headers included.</param>
/// <param name="PagesApplied">Pages written into guest memory (zero pages included).</param>
/// <param name="ZeroPagesApplied">Pages cleared from zero markers.</param>
/// <param name="SessionEntriesApplied">Session-table delta records applied.</param>
/// <param name="DecompressionCpuSeconds">Destination CPU time spent in LZ4 decode.</param>
/// <param name="ReceivedTimestamp">When the last frame had been applied, in <see cref="TimeProvider.GetTimestamp"/> ticks of the destination driver.</param>
public sealed record IncomingResult(
    long FramesReceived,
    long BytesReceived,
    long PagesApplied,
    long ZeroPagesApplied,
    long SessionEntriesApplied,
    double DecompressionCpuSeconds,
    long ReceivedTimestamp);
