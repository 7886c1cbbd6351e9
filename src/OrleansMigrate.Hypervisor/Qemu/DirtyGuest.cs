using System.Buffers.Binary;
using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>
/// The memory layout of our dirtying boot-sector guest (<c>guest/dirty-guest.S</c>) and the check of a paused
/// snapshot of it: every page of the dirtied region must hold the pass its position says, so a lost dirty page
/// or pages from different moments show up.
/// </summary>
public static class DirtyGuest
{
    /// <summary>Guest-physical address of the header.</summary>
    public const long HeaderAddress = 0x600;

    /// <summary>Header size in bytes: passes, position, magic, pages, base.</summary>
    public const int HeaderBytes = 20;

    /// <summary>"OMIG" read as a little-endian dword.</summary>
    public const uint Magic = 0x4f4d4947;

    /// <summary>The fields of the header.</summary>
    /// <param name="PassesCompleted">Passes over the whole region completed since boot.</param>
    /// <param name="Position">Pages written since boot.</param>
    /// <param name="Pages">Pages in the dirtied region.</param>
    /// <param name="Base">Guest-physical address of the region.</param>
    public sealed record Header(uint PassesCompleted, uint Position, uint Pages, uint Base)
    {
        /// <summary>Bytes of the dirtied region.</summary>
        public long RegionBytes => (long)Pages * 4096;
    }

    /// <summary>Decodes the header; null when the magic is absent (not our guest, or not booted yet).</summary>
    public static Header? ReadHeader(ReadOnlySpan<byte> header)
    {
        if (header.Length < HeaderBytes)
            throw new ArgumentException($"the header needs {HeaderBytes} bytes, got {header.Length}", nameof(header));
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[8..]) != Magic)
            return null;
        var pages = BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
        var @base = BinaryPrimitives.ReadUInt32LittleEndian(header[16..]);
        if (pages is 0 or > 65536 || @base % 4096 != 0)
            return null;
        return new Header(BinaryPrimitives.ReadUInt32LittleEndian(header), BinaryPrimitives.ReadUInt32LittleEndian(header[4..]), pages, @base);
    }

    /// <summary>
    /// Checks a snapshot taken while the guest was paused: <paramref name="region"/> is the whole dirtied region
    /// (<see cref="Header.RegionBytes"/>) read at the same moment as <paramref name="header"/>.
    /// </summary>
    public static ConsistencyReport Verify(Header header, ReadOnlySpan<byte> region)
    {
        ArgumentNullException.ThrowIfNull(header);
        if (region.Length < header.RegionBytes)
            throw new ArgumentException($"the region needs {header.RegionBytes} bytes, got {region.Length}", nameof(region));

        var full = header.Position / header.Pages;
        var rem = header.Position % header.Pages;
        var problems = new List<PageProblem>();
        long stale = 0, corrupt = 0;
        for (var i = 0u; i < header.Pages; i++)
        {
            var value = BinaryPrimitives.ReadUInt32LittleEndian(region[(int)(i * 4096)..]);
            var expected = i < rem ? full + 1 : full;

            // The vCPU may stop between the page store and the position store: page rem may be one pass ahead.
            var ok = value == expected || (i == rem && value == full + 1);
            if (ok)
                continue;
            if (value < expected)
                stale++;
            else
                corrupt++;
            if (problems.Count < 32)
                problems.Add(new PageProblem(i, value < expected ? PageProblemKind.Stale : PageProblemKind.Corrupt, $"page {i} holds pass {value}, expected {expected}"));
        }

        var consistent = stale == 0 && corrupt == 0;
        var summary = consistent
            ? $"consistent: {header.Pages} pages at position {header.Position} (pass {full + 1}, page {rem})"
            : $"INCONSISTENT: {stale} stale and {corrupt} ahead of {header.Pages} pages at position {header.Position}; first: {problems[0].Detail}";
        return new ConsistencyReport(consistent, header.Pages, corrupt, 0, stale, consistent, true, true, problems, summary);
    }
}
