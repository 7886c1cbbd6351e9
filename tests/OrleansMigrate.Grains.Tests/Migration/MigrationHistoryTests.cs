using System.Collections.Immutable;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Tests.Migration;

/// <summary>The scheduler's history in pages: what is written when, and what a listing reads back.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class MigrationHistoryTests
{
    private const int Page = 4;
    private const int Kept = 3;

    private sealed class Store
    {
        public Dictionary<long, (long Page, ImmutableArray<string> Ids)> Slots { get; } = [];

        public int Writes { get; private set; }

        public Task Write(long page, ImmutableArray<string> ids)
        {
            Writes++;
            Slots[page % Kept] = (page, ids);
            return Task.CompletedTask;
        }

        public Task<ImmutableArray<string>> Read(long page) =>
            Task.FromResult(Slots.TryGetValue(page % Kept, out var slot) && slot.Page == page ? slot.Ids : []);
    }

    private static async Task<(ImmutableList<string> Tail, long Pages)> AcceptAsync(Store store, int count, ImmutableList<string>? tail = null, long pages = 0)
    {
        tail ??= [];
        for (var i = 0; i < count; i++)
        {
            (tail, pages) = await MigrationHistory.FlushAsync(tail, pages, store.Write, Page);
            tail = tail.Add($"mig-{pages * Page + tail.Count:D3}");
        }

        return (tail, pages);
    }

    [Fact]
    public async Task The_row_holds_at_most_a_page_and_each_full_page_is_written_once()
    {
        var store = new Store();

        var (tail, pages) = await AcceptAsync(store, 11);

        Assert.Equal(2, pages);
        Assert.Equal(2, store.Writes);
        Assert.Equal(["mig-008", "mig-009", "mig-010"], tail);
        Assert.Equal<string>(["mig-000", "mig-001", "mig-002", "mig-003"], await store.Read(0));
    }

    [Fact]
    public async Task A_listing_reads_back_the_newest_ids_in_order_across_pages_and_only_the_kept_ones()
    {
        var store = new Store();
        var (tail, pages) = await AcceptAsync(store, 23); // 5 full pages (3 kept), 3 in the row

        var recent = await MigrationHistory.RecentAsync(tail, pages, store.Read, 6, Kept);
        Assert.Equal(["mig-017", "mig-018", "mig-019", "mig-020", "mig-021", "mig-022"], recent);

        var all = (await MigrationHistory.RecentAsync(tail, pages, store.Read, 100, Kept)).ToList();
        Assert.Equal(Enumerable.Range(8, 15).Select(i => $"mig-{i:D3}"), all);
    }

    [Fact]
    public async Task A_row_from_before_pages_moves_one_page_per_accepted_id_and_loses_nothing()
    {
        var store = new Store();
        var legacy = Enumerable.Range(0, 10).Select(i => $"old-{i:D2}").ToImmutableList();

        var (tail, pages) = await MigrationHistory.FlushAsync(legacy, 0, store.Write, Page);
        Assert.Equal((6, 1L), (tail.Count, pages));
        (tail, pages) = await MigrationHistory.FlushAsync(tail, pages, store.Write, Page);
        Assert.Equal((2, 2L), (tail.Count, pages));

        Assert.Equal(legacy, await MigrationHistory.RecentAsync(tail, pages, store.Read, 100, Kept));
    }

    [Fact]
    public async Task A_failed_page_write_leaves_the_row_as_it_was()
    {
        var tail = Enumerable.Range(0, Page).Select(i => $"m-{i}").ToImmutableList();

        await Assert.ThrowsAsync<TimeoutException>(() => MigrationHistory.FlushAsync(tail, 7, (_, _) => throw new TimeoutException(), Page));

        Assert.Equal(Page, tail.Count);
    }
}
