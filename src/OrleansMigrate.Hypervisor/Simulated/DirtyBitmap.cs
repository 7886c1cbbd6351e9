using System.Numerics;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// One bit per guest page, set with an atomic OR after the page was written and harvested with an atomic
/// exchange-to-zero at the start of a round. A write that lands while a round is being sent sets its bit again
/// after the harvest, so the page goes in a later round; the final harvest happens with the guest paused.
/// </summary>
internal sealed class DirtyBitmap
{
    private readonly ulong[] _words;

    public DirtyBitmap(int pageCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pageCount);
        PageCount = pageCount;
        _words = new ulong[(pageCount + 63) / 64];
    }

    public int PageCount { get; }

    /// <summary>Marks a page dirty. Call after the write; the interlocked OR is a full fence, so the write is visible to a harvester that sees the bit.</summary>
    public void Mark(int page) => Interlocked.Or(ref _words[page >> 6], 1UL << (page & 63));

    /// <summary>Dirty pages right now (approximate while writers run).</summary>
    public long CountDirty()
    {
        long count = 0;
        for (var i = 0; i < _words.Length; i++)
            count += BitOperations.PopCount(Volatile.Read(ref _words[i]));
        return count;
    }

    /// <summary>Moves every dirty page into <paramref name="pages"/> (ascending) and clears its bit; returns how many.</summary>
    public int Harvest(Span<int> pages)
    {
        var n = 0;
        for (var i = 0; i < _words.Length; i++)
        {
            if (Volatile.Read(ref _words[i]) == 0)
                continue;
            var word = Interlocked.Exchange(ref _words[i], 0);
            var baseIndex = i << 6;
            while (word != 0)
            {
                pages[n++] = baseIndex + BitOperations.TrailingZeroCount(word);
                word &= word - 1;
            }
        }

        return n;
    }

    /// <summary>Clears every bit.</summary>
    public void Clear()
    {
        for (var i = 0; i < _words.Length; i++)
            Interlocked.Exchange(ref _words[i], 0);
    }
}
