using System.Collections.Immutable;

namespace OrleansMigrate.Fleet;

/// <summary>
/// Reads the whole VM registry straight from the <see cref="IVmIndexGrain"/> shards and the <see cref="IVmGrain"/>s,
/// with a bounded number of calls in flight, without going through <see cref="IFleetGrain"/> (so a reader such as the
/// invariant auditor never occupies the fleet's coordinator, and 200,000 record reads are never all in flight at once).
/// Needs only a grain factory, so it runs in a client and inside a silo; inside a grain its calls stay on the grain's
/// scheduler.
/// </summary>
public static class VmIndexReader
{
    /// <summary>Shards read at once, and records read at once per shard of that, by default.</summary>
    public const int DefaultConcurrency = 64;

    /// <summary>
    /// Every VM id in the index, in <see cref="Comparer{T}.Default"/> order (the order <see cref="IFleetGrain.ListVmsAsync"/>
    /// has always answered in), read from each shard <paramref name="pageSize"/> ids at a time with at most
    /// <paramref name="concurrency"/> shards in flight.
    /// </summary>
    public static async Task<ImmutableArray<string>> ReadIdsAsync(IGrainFactory grains, int concurrency = DefaultConcurrency, int pageSize = VmIndexShards.MaxPage,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, VmIndexShards.MaxPage);
        var perShard = new List<string>[VmIndexShards.Count];
        await ForEachAsync(VmIndexShards.Count, concurrency, async shard =>
        {
            var index = grains.GetGrain<IVmIndexGrain>(VmIndexShards.Key(shard));
            var ids = new List<string>();
            for (string? after = null; ;)
            {
                var page = await index.ListAfterAsync(after, pageSize).WaitAsync(cancellationToken);
                ids.AddRange(page);
                if (page.Length < pageSize)
                {
                    break;
                }

                after = page[^1];
            }

            perShard[shard] = ids;
        }, cancellationToken);

        return [.. perShard.SelectMany(ids => ids).Order(Comparer<string>.Default)];
    }

    /// <summary>The records of <paramref name="ids"/> in their order, at most <paramref name="concurrency"/> reads in
    /// flight; an id whose VM is gone (deleted after the index was read) is skipped.</summary>
    public static async Task<ImmutableArray<VmRecord>> ReadRecordsAsync(IGrainFactory grains, IReadOnlyList<string> ids, int concurrency = DefaultConcurrency,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        var records = new VmRecord?[ids.Count];
        await ForEachAsync(ids.Count, concurrency, async i => records[i] = await grains.GetGrain<IVmGrain>(ids[i]).GetAsync().WaitAsync(cancellationToken), cancellationToken);
        return [.. records.OfType<VmRecord>()];
    }

    /// <summary>Every VM's record, in <see cref="Comparer{T}.Default"/> id order: what <see cref="IFleetGrain.ListVmsAsync"/> answers.</summary>
    public static async Task<ImmutableArray<VmRecord>> ReadAllAsync(IGrainFactory grains, int concurrency = DefaultConcurrency, CancellationToken cancellationToken = default)
    {
        var ids = await ReadIdsAsync(grains, concurrency, VmIndexShards.MaxPage, cancellationToken);
        return await ReadRecordsAsync(grains, ids, concurrency, cancellationToken);
    }

    /// <summary>Runs <paramref name="body"/> for 0 … <paramref name="count"/> - 1 with at most <paramref name="concurrency"/>
    /// running: that many workers take the next index in turn. The workers are plain async methods, so on a grain's
    /// scheduler they stay on it.</summary>
    private static async Task ForEachAsync(int count, int concurrency, Func<int, Task> body, CancellationToken cancellationToken)
    {
        var next = -1;
        async Task WorkAsync()
        {
            while (Interlocked.Increment(ref next) is var i && i < count)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await body(i);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Math.Min(concurrency, Math.Max(count, 1))).Select(_ => WorkAsync()));
    }
}
