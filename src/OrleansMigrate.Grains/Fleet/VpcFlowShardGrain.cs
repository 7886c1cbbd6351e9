using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// One shard of a VPC's flows. Requests run one at a time; a change is written before it returns, and a failed
/// write restores the in-memory flows, so memory never holds a flow the store does not (or lacks one it holds).
/// A change that changes nothing writes nothing.
/// </summary>
[ControlPlanePlacement]
internal sealed class VpcFlowShardGrain(
    [PersistentState("vpc-flows", StorageNames.Fleet)] IPersistentState<VpcFlowShardGrainState> state) : Grain, IVpcFlowShardGrain
{
    private string Key => this.GetPrimaryKeyString();

    public Task<ImmutableDictionary<string, FlowEntry>> GetAsync() => Task.FromResult(state.State.Flows);

    public Task SetManyAsync(ImmutableArray<FlowEntry> flows)
    {
        foreach (var flow in flows)
        {
            RequireOwn(flow?.Ip);
        }

        return UpdateAsync(f => f.SetItems(flows.Select(x => KeyValuePair.Create(x.Ip, x))));
    }

    public Task RemoveAsync(string ip)
    {
        RequireOwn(ip);
        return UpdateAsync(f => f.Remove(ip));
    }

    // Only the shard is checked: the table validated the flow before it asked.
    private void RequireOwn(string? ip)
    {
        if (string.IsNullOrEmpty(ip))
        {
            throw OmigException.Invalid("ip", "is required");
        }

        var shard = VpcFlowShards.ShardOf(ip);
        if (shard != VpcFlowShards.ShardOfKey(Key))
        {
            throw OmigException.Invalid("ip", $"'{ip}' belongs to VPC flow shard {shard}, not '{Key}'");
        }
    }

    private async Task UpdateAsync(Func<ImmutableDictionary<string, FlowEntry>, ImmutableDictionary<string, FlowEntry>> change)
    {
        var before = state.State.Flows;
        var after = change(before);

        if (after.Count == before.Count && after.All(f => before.TryGetValue(f.Key, out var was) && was == f.Value))
        {
            return;
        }

        state.State.Flows = after;
        await state.WriteOrRevertAsync(() => state.State.Flows = before);
    }
}
