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
