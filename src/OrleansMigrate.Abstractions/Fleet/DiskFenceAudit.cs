namespace OrleansMigrate.Fleet;

/// <summary>
/// What the block store measured about one fence of one holder of a cloud disk: how many bytes that holder wrote after
/// the store began fencing it. A store that measures (<c>nbd</c>) gives every holder its own block node and, as it
/// fences the holder, starts a dirty bitmap on that node; every write of the holder that lands from then on sets bits in
/// it, whatever path the write took inside the store. The count is read from the bitmap when the holder is closed or
/// handed the disk back (then final), or when asked (then so far).
/// </summary>
/// <param name="HostId">The holder that was fenced.</param>
/// <param name="ExportGeneration">The generation of the holder's handle (its export's name carries it).</param>
/// <param name="FencedForGeneration">The disk's generation the fence made way for (a pause keeps the disk's generation).</param>
/// <param name="FencedAt">When the store began fencing (the bitmap started before the holder's export was removed).</param>
/// <param name="EndedAt">When the count became final (the holder closed or handed the disk back), or null while it runs.</param>
/// <param name="End">Why it ended: <c>closed</c>, <c>handed-back</c>, <c>deleted</c>; null while it runs.</param>
/// <param name="BytesWrittenAfter">Bytes (in 512-byte sectors' granularity) the holder wrote after the fence began; null
/// when it could not be read (<paramref name="NotChecked"/> says why) — never counted as zero.</param>
/// <param name="NotChecked">Why the count could not be read (the store's daemon restarted and lost the bitmap, ...), or null.</param>
[GenerateSerializer, Immutable]
[Alias("omig.DiskFenceAudit")]
public sealed record DiskFenceAudit(
    [property: Id(0)] string HostId,
    [property: Id(1)] long ExportGeneration,
    [property: Id(2)] long FencedForGeneration,
    [property: Id(3)] DateTimeOffset FencedAt,
    [property: Id(4)] DateTimeOffset? EndedAt,
    [property: Id(5)] string? End,
    [property: Id(6)] long? BytesWrittenAfter,
    [property: Id(7)] string? NotChecked)
{
    /// <summary>The bitmap's granularity: a count is a multiple of it.</summary>
    public const int SectorBytes = 512;

    /// <summary>Sectors written after the fence (<see cref="BytesWrittenAfter"/> / 512), or null when not checked.</summary>
    public long? SectorsWrittenAfter => BytesWrittenAfter is { } b ? b / SectorBytes : null;
}
