using System.Globalization;
using K4os.Compression.LZ4;
using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// Dirty-rate sampling of a simulated guest from its own counters: the pass counter (every page write) and
/// the generation vector (which pages were written) at the start and the end of the window. The migration
/// dirty bitmap is never read or cleared, so sampling a VM whose migration is in flight is allowed and does
/// not change what the migration sends. Memory is read (racing with the guest, as pre-copy does) to estimate
/// the zero-page share and the LZ4 ratio of dirtied pages.
/// </summary>
internal static class DirtyRateSampler
{
    /// <summary>Pages read for the zero-page share.</summary>
    private const int ZeroSamplePages = 2048;

    /// <summary>Most dirtied pages LZ4-compressed for the ratio.</summary>
    private const int CompressionSamplePages = 256;

    public static async Task<DirtyRateSample> SampleAsync(string vmId, SimulatedGuest guest, TimeSpan window, TimeProvider time, CancellationToken cancellationToken)
    {
        var pages = guest.Memory.PageCount;
        var before = new uint[pages];
        var writesBefore = guest.PassCounter;
        var started = time.GetTimestamp();
        guest.CopyGenerations(before);
        await Task.Delay(window, time, cancellationToken).ConfigureAwait(false);
        var after = new uint[pages];
        guest.CopyGenerations(after);
        var writes = guest.PassCounter - writesBefore;
        var seconds = Math.Max(time.GetElapsedTime(started).TotalSeconds, 1e-6);

        var dirtied = new List<int>();
        for (var i = 0; i < pages; i++)
        {
            if (after[i] != before[i])
                dirtied.Add(i);
        }

        var workingSet = EstimateWorkingSetPages(writes, dirtied.Count, pages);
        var zeroFraction = ZeroShare(guest.Memory);
        var ratio = CompressionRatio(guest.Memory, dirtied);
        var detail = string.Create(CultureInfo.InvariantCulture,
            $"{writes} page writes, {dirtied.Count} distinct pages in {seconds * 1000:F0} ms; working set {(workingSet is { } ws ? $"~{ws * (long)GuestMemory.PageSize >> 20} MiB (from repeat writes)" : "unknown (too few repeat writes)")}; zero pages {zeroFraction:P0} of {ZeroSamplePages} sampled; LZ4 {(ratio is { } r ? r.ToString("F2", CultureInfo.InvariantCulture) : "n/a")} over {Math.Min(dirtied.Count, CompressionSamplePages)} dirtied pages");
        return new DirtyRateSample(
            vmId,
            DirtyRateMethods.SimulatedCounters,
            writes * (double)GuestMemory.PageSize / seconds,
            seconds * 1000,
            guest.Memory.Length,
            (long)dirtied.Count * GuestMemory.PageSize,
            workingSet is { } set ? set * GuestMemory.PageSize : null,
            zeroFraction,
            ratio,
            detail);
    }

    /// <summary>
    /// Solves <c>distinct = S·(1 − e^(−writes/S))</c> for the size <c>S</c> of a uniformly written set: the
    /// expected number of distinct pages <paramref name="writes"/> random writes touch. Null when there were too
    /// few repeat writes to tell (fewer than 2 % or 16 of the writes), capped at the guest size.
    /// </summary>
    internal static long? EstimateWorkingSetPages(long writes, long distinct, long pageCount)
    {
        if (writes <= 0 || distinct <= 0 || writes - distinct < Math.Max(16, writes / 50))
            return null;
        double Distinct(double s) => s * -double.ExpM1(-writes / s);
        double low = distinct, high = Math.Max(distinct, pageCount) * 4.0;
        if (Distinct(high) < distinct)
            return pageCount;
        for (var i = 0; i < 100 && high - low > 0.5; i++)
        {
            var mid = (low + high) / 2;
            if (Distinct(mid) < distinct)
                low = mid;
            else
                high = mid;
        }

        return Math.Min(pageCount, (long)Math.Round(high));
    }

    private static double ZeroShare(GuestMemory memory)
    {
        var step = Math.Max(1, memory.PageCount / ZeroSamplePages);
        int zero = 0, seen = 0;
        for (var page = step / 2; page < memory.PageCount && seen < ZeroSamplePages; page += step, seen++)
        {
            if (!memory.Page(page).ContainsAnyExcept((byte)0))
                zero++;
        }

        return seen == 0 ? 0 : zero / (double)seen;
    }

    /// <summary>LZ4 (fast) bytes of a page batch of dirtied pages / their raw 4096 bytes each, as the final copy compresses them.</summary>
    private static double? CompressionRatio(GuestMemory memory, List<int> dirtied)
    {
        if (dirtied.Count == 0)
            return null;
        var count = Math.Min(dirtied.Count, CompressionSamplePages);
        var step = dirtied.Count / (double)count;
        var raw = new byte[count * (GuestMemory.PageSize + sizeof(uint))];
        var length = 0;
        for (var i = 0; i < count; i++)
        {
            var page = memory.Page(dirtied[(int)(i * step)]);
            if (page.ContainsAnyExcept((byte)0))
            {
                page.CopyTo(raw.AsSpan(length));
                length += GuestMemory.PageSize;
            }

            length += sizeof(uint);
        }

        var output = new byte[LZ4Codec.MaximumOutputSize(length)];
        var encoded = LZ4Codec.Encode(raw.AsSpan(0, length), output, LZ4Level.L00_FAST);
        var wire = encoded > 0 ? Math.Min(encoded, length) : length;
        return wire / ((double)count * GuestMemory.PageSize);
    }
}
