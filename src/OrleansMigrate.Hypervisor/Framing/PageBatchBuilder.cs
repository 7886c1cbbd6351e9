using System.Buffers.Binary;

namespace OrleansMigrate.Hypervisor.Framing;

/// <summary>
/// Builds a page-batch payload in place (see <see cref="PageBatchFormat"/>). Zero pages are elided to a
/// marker; other pages are copied once into the payload. No allocation.
/// </summary>
internal ref struct PageBatchBuilder
{
    private readonly Span<byte> _payload;
    private readonly Span<uint> _entries;
    private int _count;
    private int _nonZero;

    /// <param name="payload">Room for the payload: at least <see cref="PageBatchFormat.MaxRawLength"/> of the entry capacity.</param>
    /// <param name="entries">Scratch for the entry table; its length is the batch capacity in pages.</param>
    public PageBatchBuilder(Span<byte> payload, Span<uint> entries)
    {
        if (payload.Length < PageBatchFormat.MaxRawLength(entries.Length))
            throw new ArgumentException("Payload buffer too small for the entry capacity.", nameof(payload));
        _payload = payload;
        _entries = entries;
    }

    public readonly int Count => _count;

    public readonly int ZeroPages => _count - _nonZero;

    public readonly bool IsFull => _count == _entries.Length;

    /// <summary>Adds one page; returns true when it was all zero and went as a marker.</summary>
    public bool Add(uint pageIndex, ReadOnlySpan<byte> page)
    {
        if (_count == _entries.Length)
            throw new InvalidOperationException("Page batch is full.");
        if (page.Length != PageBatchFormat.PageSize)
            throw new ArgumentException("A page is 4096 bytes.", nameof(page));
        if (pageIndex > PageBatchFormat.MaxPageIndex)
            throw new ArgumentOutOfRangeException(nameof(pageIndex));
        if (!page.ContainsAnyExcept((byte)0))
        {
            _entries[_count++] = pageIndex | PageBatchFormat.ZeroFlag;
            return true;
        }

        page.CopyTo(_payload.Slice(_nonZero * PageBatchFormat.PageSize, PageBatchFormat.PageSize));
        _nonZero++;
        _entries[_count++] = pageIndex;
        return false;
    }

    /// <summary>Writes the entry table and count after the bodies; returns the payload length.</summary>
    public readonly int Finish()
    {
        var offset = _nonZero * PageBatchFormat.PageSize;
        for (var i = 0; i < _count; i++)
            BinaryPrimitives.WriteUInt32LittleEndian(_payload[(offset + (i * sizeof(uint)))..], _entries[i]);
        offset += _count * sizeof(uint);
        BinaryPrimitives.WriteUInt32LittleEndian(_payload[offset..], (uint)_count);
        return offset + sizeof(uint);
    }
}
