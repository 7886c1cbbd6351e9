using System.Buffers.Binary;

namespace OrleansMigrate.Hypervisor.Framing;

/// <summary>Iterates a decoded page-batch payload, validating its layout up front (see <see cref="PageBatchFormat"/>).</summary>
internal ref struct PageBatchReader
{
    private readonly ReadOnlySpan<byte> _payload;
    private readonly ReadOnlySpan<byte> _entries;
    private int _next;
    private int _bodyOffset;

    /// <param name="payload">The raw payload.</param>
    /// <param name="expectedCount">The frame header's item count; the trailer must agree.</param>
    /// <param name="pageCount">Guest pages; every index must be below it.</param>
    public PageBatchReader(ReadOnlySpan<byte> payload, uint expectedCount, long pageCount)
    {
        if (payload.Length < sizeof(uint))
            throw new FrameFormatException("Page batch shorter than its count.");
        var count = BinaryPrimitives.ReadUInt32LittleEndian(payload[^sizeof(uint)..]);
        if (count != expectedCount || count > PageBatchFormat.MaxPages)
            throw new FrameFormatException($"Page batch count {count} (header {expectedCount}, max {PageBatchFormat.MaxPages}).");
        var tableLength = (int)count * sizeof(uint);
        var bodiesLength = payload.Length - sizeof(uint) - tableLength;
        if (bodiesLength < 0 || bodiesLength % PageBatchFormat.PageSize != 0)
            throw new FrameFormatException($"Page batch of {payload.Length} bytes cannot hold {count} entries.");
        _entries = payload.Slice(bodiesLength, tableLength);
        var nonZero = 0;
        for (var i = 0; i < count; i++)
        {
            var entry = BinaryPrimitives.ReadUInt32LittleEndian(_entries[(i * sizeof(uint))..]);
            if ((entry & PageBatchFormat.ZeroFlag) == 0)
                nonZero++;
            if ((entry & ~PageBatchFormat.ZeroFlag) >= pageCount)
                throw new FrameFormatException($"Page index {entry & ~PageBatchFormat.ZeroFlag} beyond guest of {pageCount} pages.");
        }

        if (nonZero * PageBatchFormat.PageSize != bodiesLength)
            throw new FrameFormatException($"Page batch carries {bodiesLength / PageBatchFormat.PageSize} bodies for {nonZero} non-zero entries.");
        _payload = payload;
        Count = (int)count;
        ZeroPages = (int)count - nonZero;
    }

    public int Count { get; }

    public int ZeroPages { get; }

    /// <summary>Moves to the next page; <paramref name="body"/> is empty for a zero page.</summary>
    public bool MoveNext(out uint pageIndex, out ReadOnlySpan<byte> body)
    {
        if (_next == Count)
        {
            pageIndex = 0;
            body = default;
            return false;
        }

        var entry = BinaryPrimitives.ReadUInt32LittleEndian(_entries[(_next * sizeof(uint))..]);
        _next++;
        pageIndex = entry & ~PageBatchFormat.ZeroFlag;
        if ((entry & PageBatchFormat.ZeroFlag) != 0)
        {
            body = default;
            return true;
        }

        body = _payload.Slice(_bodyOffset, PageBatchFormat.PageSize);
        _bodyOffset += PageBatchFormat.PageSize;
        return true;
    }
}
