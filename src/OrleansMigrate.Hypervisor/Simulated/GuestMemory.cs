using OrleansMigrate.Hypervisor.Framing;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// Guest RAM as real bytes in native memory, 4 KiB pages. Regions come from <see cref="GuestMemoryPool"/>
/// already faulted in (hugepage-backed where the kernel allows), as a hypervisor host keeps guest RAM
/// preallocated: first touch of fresh memory costs about a second per GiB on a virtualised host, which
/// would otherwise land inside the migration. Content is unspecified until written: a guest's boot writes
/// every page and an incoming migration sends every page (zero pages as markers) in its bulk round.
/// Readers and writers may race on a page; the dirty bitmap, not this class, makes migration correct
/// under that race.
/// </summary>
internal sealed unsafe class GuestMemory : IDisposable
{
    public const int PageSize = PageBatchFormat.PageSize;

    private byte* _base;

    public GuestMemory(long bytes)
    {
        if (bytes <= 0 || bytes % PageSize != 0)
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "Guest memory must be a positive multiple of 4 KiB.");
        if (bytes / PageSize > PageBatchFormat.MaxPageIndex)
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "Guest memory too large for 31-bit page numbers.");
        _base = GuestMemoryPool.Rent(bytes);
        Length = bytes;
        PageCount = (int)(bytes / PageSize);
    }

    public long Length { get; }

    public int PageCount { get; }

    /// <summary>The 4 KiB of page <paramref name="index"/>.</summary>
    public Span<byte> Page(int index)
    {
        var basePointer = _base;
        ObjectDisposedException.ThrowIf(basePointer == null, this);
        if ((uint)index >= (uint)PageCount)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Guest has {PageCount} pages.");
        return new Span<byte>(basePointer + ((long)index * PageSize), PageSize);
    }

    /// <summary>Returns the region to the pool. Every thread touching the memory must have stopped.</summary>
    public void Dispose()
    {
        var basePointer = _base;
        _base = null;
        if (basePointer != null)
            GuestMemoryPool.Return(basePointer, Length);
    }
}
