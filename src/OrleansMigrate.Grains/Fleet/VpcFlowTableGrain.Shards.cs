using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// The flows of the table, in memory and in the <see cref="IVpcFlowShardGrain"/> pages. Memory follows the
/// pages: a flow changes in memory only once its page stored it. A page call that fails may still have been
/// stored (its answer lost, a timeout), so the page is read back and, if that fails too, marked unloaded: it is
/// read again before its flows are next used, and memory never answers with a flow the store does not hold.
/// Pages are loaded and written only by requests that run alone, never by the interleaving repoint.
/// </summary>
public sealed partial class VpcFlowTableGrain
{
    // All flows of the loaded pages, IP → flow; the one dictionary reads use, so GetAsync hands it out as is.
    private ImmutableDictionary<string, FlowEntry> _flows = ImmutableDictionary.Create<string, FlowEntry>(StringComparer.Ordinal);

    // Which pages _flows holds: all after activation; a page whose write failed and could not be read back is not.
    private readonly bool[] _loaded = new bool[VpcFlowShards.Count];

    /// <summary>Moves flows stored by an older version (<see cref="VpcFlowTableGrainState.Flows"/>) into the pages,
    /// then loads every page.</summary>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!state.State.Flows.IsEmpty)
        {
            await MoveLegacyFlowsAsync();
        }

        var pages = await Task.WhenAll(Enumerable.Range(0, VpcFlowShards.Count).Select(shard => Page(shard).GetAsync()));
        var all = ImmutableDictionary.CreateBuilder<string, FlowEntry>(StringComparer.Ordinal);
        foreach (var page in pages)
        {
            all.AddRange(page);
        }

        _flows = all.ToImmutable();
        Array.Fill(_loaded, true);
    }

    Task IVpcFlowCommitGrain.LoadFlowShardAsync(string ip) => EnsureShardLoadedAsync(ip);

    private bool IsShardLoaded(string ip) => _loaded[VpcFlowShards.ShardOf(ip)];

    private Task EnsureShardLoadedAsync(string ip)
    {
        var shard = VpcFlowShards.ShardOf(ip);
        return _loaded[shard] ? Task.CompletedTask : LoadShardAsync(shard);
    }

    private async Task EnsureAllShardsLoadedAsync()
    {
        for (var shard = 0; shard < VpcFlowShards.Count; shard++)
        {
            if (!_loaded[shard])
            {
                await LoadShardAsync(shard);
            }
        }
    }

    /// <summary>Replaces the flows of page <paramref name="shard"/> in memory by the stored ones.</summary>
    private async Task LoadShardAsync(int shard)
    {
        var stored = await Page(shard).GetAsync();
        var stale = _flows.Keys.Where(ip => VpcFlowShards.ShardOf(ip) == shard && !stored.ContainsKey(ip)).ToList();
        _flows = _flows.RemoveRange(stale).SetItems(stored);
        _loaded[shard] = true;
    }

    /// <summary>Stores <paramref name="flow"/> for <paramref name="ip"/> (null: removes it) in its page, then in memory.</summary>
    private async Task WriteFlowAsync(string ip, FlowEntry? flow)
    {
        var shard = VpcFlowShards.ShardOf(ip);
        var page = Page(shard);
        try
        {
            await (flow is null ? page.RemoveAsync(ip) : page.SetManyAsync([flow]));
        }
        catch (Exception)
        {
            _loaded[shard] = false;
            try
            {
                await LoadShardAsync(shard);
            }
            catch (Exception reload)
            {
                LogShardUnloaded(logger, VpcId, shard, reload.Message);
            }

            throw;
        }

        _flows = flow is null ? _flows.Remove(ip) : _flows.SetItem(ip, flow);
    }

    /// <summary>
    /// Writes the legacy flows into their pages, then clears them here. Safe to repeat after a crash at any
    /// point: no request runs before the activation ends, so the pages hold nothing newer than the legacy flows,
    /// and the flows stay here until every page has written them.
    /// </summary>
    private async Task MoveLegacyFlowsAsync()
    {
        var legacy = state.State.Flows;
        await Task.WhenAll(legacy.Values
            .GroupBy(f => VpcFlowShards.ShardOf(f.Ip))
            .Select(g => Page(g.Key).SetManyAsync([.. g])));
        state.State.Flows = ImmutableDictionary<string, FlowEntry>.Empty;
        await state.WriteOrRevertAsync(() => state.State.Flows = legacy);
        LogLegacyFlowsMoved(logger, VpcId, legacy.Count);
    }

    private IVpcFlowShardGrain Page(int shard) => GrainFactory.GetGrain<IVpcFlowShardGrain>(VpcFlowShards.Key(VpcId, shard));

    [LoggerMessage(EventId = 6203, Level = LogLevel.Information, Message = "VPC {VpcId}: {Count} flows stored by an older version moved into the flow shards")]
    private static partial void LogLegacyFlowsMoved(ILogger logger, string vpcId, int count);

    [LoggerMessage(EventId = 6204, Level = LogLevel.Warning, Message = "VPC {VpcId}: flow shard {Shard} not read back after a failed write ({Reason}); it is read again before its next use")]
    private static partial void LogShardUnloaded(ILogger logger, string vpcId, int shard, string reason);
}
