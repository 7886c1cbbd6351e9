using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Hosting;
using OrleansMigrate.Placement;

namespace OrleansMigrate.Fleet;

/// <summary>
/// One shard of the VM index. Requests run one at a time; a change is written before it returns, and a
/// failed write restores the in-memory set, so memory never holds an id the store does not (or lacks
/// one it holds). A change that changes nothing writes nothing.
/// </summary>
[ControlPlanePlacement]
public sealed class VmIndexGrain(
    [PersistentState("vm-index", StorageNames.Fleet)] IPersistentState<VmIndexGrainState> state) : Grain, IVmIndexGrain
{
    private string Key => this.GetPrimaryKeyString();

    public Task AddAsync(string vmId)
    {
        RequireOwn(vmId);
        return UpdateAsync(ids => ids.Add(vmId));
    }

    public Task AddManyAsync(ImmutableArray<string> vmIds)
    {
        foreach (var vmId in vmIds)
        {
            RequireOwn(vmId);
        }

        return UpdateAsync(ids => ids.Union(vmIds));
    }

    public Task RemoveAsync(string vmId)
    {
        RequireOwn(vmId);
        return UpdateAsync(ids => ids.Remove(vmId));
    }

    public Task<bool> ContainsAsync(string vmId) => Task.FromResult(vmId is not null && state.State.VmIds.Contains(vmId));

    public Task<ImmutableArray<string>> ListAsync() => Task.FromResult(state.State.VmIds.ToImmutableArray());

    public Task<ImmutableArray<string>> ListAfterAsync(string? after, int limit)
    {
        if (limit is < 1 or > VmIndexShards.MaxPage)
        {
            throw OmigException.Invalid("limit", $"must be between 1 and {VmIndexShards.MaxPage}, got {limit}");
        }

        // The set's own order is the default string comparer's (culture-aware); a page walk needs ordinal order, and a
        // shard holds 1/64 of the fleet, so filtering it whole is cheaper than keeping a second sorted copy.
        var page = state.State.VmIds
            .Where(id => after is null || string.CompareOrdinal(id, after) > 0)
            .Order(StringComparer.Ordinal)
            .Take(limit);
        return Task.FromResult(page.ToImmutableArray());
    }

    // Only presence and shard are checked: the fleet validated the id when the VM was created, and an
    // id stored under older rules must still move here and be removable.
    private void RequireOwn(string vmId)
    {
        if (string.IsNullOrEmpty(vmId))
        {
            throw OmigException.Invalid("vm_id", "is required");
        }

        var shard = VmIndexShards.KeyFor(vmId);
        if (!string.Equals(shard, Key, StringComparison.Ordinal))
        {
            throw OmigException.Invalid("vm_id", $"VM '{vmId}' belongs to index shard '{shard}', not '{Key}'");
        }
    }

    private async Task UpdateAsync(Func<ImmutableSortedSet<string>, ImmutableSortedSet<string>> change)
    {
        var before = state.State.VmIds;
        var after = change(before);
        if (after.Count == before.Count && after.SetEquals(before))
        {
            return;
        }

        state.State.VmIds = after;
        await state.WriteOrRevertAsync(() => state.State.VmIds = before);
    }
}
