namespace OrleansMigrate.Hypervisor.Framing;

/// <summary>
/// Layout of a <see cref="FrameType.PageBatch"/> payload. Page bodies come first so the sender copies each
/// page once, straight into the frame; the entry table and count trail them:
/// <code>
/// [4096 × non-zero page bodies, in entry order][u32 entry × count][u32 count]
/// entry = page index | 0x8000_0000 when the page is all zero (marker only, no body)
/// </code>
/// </summary>
internal static class PageBatchFormat
{
    /// <summary>Guest page size in bytes.</summary>
    public const int PageSize = 4096;

    /// <summary>Entry bit that marks a zero page.</summary>
    public const uint ZeroFlag = 0x8000_0000;

    /// <summary>Most pages in one batch.</summary>
    public const int MaxPages = 1024;

    /// <summary>Largest page index a batch can carry (31 bits: 8 TiB of guest memory).</summary>
    public const uint MaxPageIndex = ZeroFlag - 1;

    /// <summary>Payload length of a batch of <paramref name="count"/> entries of which <paramref name="nonZero"/> carry a body.</summary>
    public static int RawLength(int count, int nonZero) => (nonZero * PageSize) + (count * sizeof(uint)) + sizeof(uint);

    /// <summary>Largest payload of a batch of up to <paramref name="maxPages"/> pages.</summary>
    public static int MaxRawLength(int maxPages) => RawLength(maxPages, maxPages);
}
