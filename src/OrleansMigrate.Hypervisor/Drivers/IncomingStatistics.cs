namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Destination-side totals of one migration.</summary>
/// <param name="FramesReceived">Frames received.</param>
/// <param name="BytesReceived">Bytes received, headers included.</param>
/// <param name="PagesApplied">Pages written into guest memory.</param>
/// <param name="ZeroPagesApplied">Pages cleared from zero markers.</param>
/// <param name="SessionEntriesApplied">Session-table delta records applied.</param>
/// <param name="DecompressionCpuSeconds">CPU time in LZ4 decode.</param>
public sealed record IncomingStatistics(
    long FramesReceived,
    long BytesReceived,
    long PagesApplied,
    long ZeroPagesApplied,
    long SessionEntriesApplied,
    double DecompressionCpuSeconds);
