using System.Collections.Immutable;

namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// The scheduler's history of accepted migration ids in pages: the newest ids in its row, each older full page written
/// once to its own store. Plain functions over the row's two fields and the page store, so the paging is tested
/// without a cluster.
/// </summary>
public static class MigrationHistory
{
    /// <summary>When the row holds a full page or more, writes its oldest page and returns the row without it (a row
    /// from before pages, holding up to 2,000 ids, moves one page per call). The page is written before the row forgets
    /// its ids: a failed write throws and the row keeps them.</summary>
    public static async Task<(ImmutableList<string> Tail, long PagesWritten)> FlushAsync(ImmutableList<string> tail, long pagesWritten,
        Func<long, ImmutableArray<string>, Task> writePage, int pageSize)
    {
        if (tail.Count < pageSize)
        {
            return (tail, pagesWritten);
        }

        await writePage(pagesWritten, [.. tail.Take(pageSize)]);
        return (tail.RemoveRange(0, pageSize), pagesWritten + 1);
    }

    /// <summary>The newest <paramref name="count"/> ids, oldest first: the row's, then full pages back as needed, at most
    /// <paramref name="pagesKept"/> of them (older slots have been overwritten).</summary>
    public static async Task<IEnumerable<string>> RecentAsync(ImmutableList<string> tail, long pagesWritten, Func<long, Task<ImmutableArray<string>>> readPage,
        int count, int pagesKept)
    {
        var pages = new List<ImmutableArray<string>>();
        var have = tail.Count;
        for (var page = pagesWritten - 1; page >= 0 && page >= pagesWritten - pagesKept && have < count; page--)
        {
            var ids = await readPage(page);
            pages.Insert(0, ids);
            have += ids.Length;
        }

        return pages.SelectMany(p => p).Concat(tail).TakeLast(count);
    }
}
