using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Storage;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// One shard of the VM index. Its ids are stored in <see cref="Buckets"/> rows (<see cref="IdBuckets"/>, state names
/// <c>vm-index-b00</c> …), so a create or delete rewrites about 1/4,096 of the fleet's ids (49 at 200,000 VMs) instead of
/// the whole shard. Requests run one at a time; a change is written before it shows, and a failed write leaves memory
/// as it was, so memory never holds an id the store does not (or lacks one it holds). A change that changes nothing
/// writes nothing.
/// </summary>
[ControlPlanePlacement]
public sealed partial class VmIndexGrain(
    [PersistentState("vm-index", StorageNames.Fleet)] IPersistentState<VmIndexGrainState> legacy,
    ILogger<VmIndexGrain> logger) : Grain, IVmIndexGrain
{
    /// <summary>Rows per shard. Stored rows depend on it (and on <see cref="IdBuckets.BucketOf"/>): never change it.</summary>
    public const int Buckets = 64;

    /// <summary>The state-name prefix of a shard's rows.</summary>
    public const string RowPrefix = "vm-index";

    private IdBuckets _ids = null!;

    private string Key => this.GetPrimaryKeyString();

    /// <summary>
    /// Reads the rows; then moves ids stored by an older version in the one-row layout (<see cref="VmIndexGrainState"/>,
    /// state <c>vm-index</c>) into them and clears that row. Safe to repeat after a crash at any point: adding an id a row
    /// holds changes nothing, and the old row is cleared only after every row has written its ids.
    /// </summary>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _ids = new IdBuckets(ServiceProvider.GetRequiredKeyedService<IGrainStorage>(StorageNames.Fleet), this.GetGrainId(), RowPrefix, Buckets);
        await _ids.LoadAsync();
        var old = legacy.State.VmIds;
        if (!old.IsEmpty)
        {
            await _ids.AddAsync(old);
            legacy.State.VmIds = ImmutableSortedSet<string>.Empty;
            await legacy.WriteOrRevertAsync(() => legacy.State.VmIds = old);
            LogRelaidOut(logger, Key, old.Count);
        }
    }

    public Task AddAsync(string vmId)
    {
        RequireOwn(vmId);
        return _ids.AddAsync([vmId]);
    }

    public Task AddManyAsync(ImmutableArray<string> vmIds)
    {
        foreach (var vmId in vmIds)
        {
            RequireOwn(vmId);
        }

        return _ids.AddAsync(vmIds);
    }

    public Task RemoveAsync(string vmId)
    {
        RequireOwn(vmId);
        return _ids.RemoveAsync([vmId]);
    }

    public Task<bool> ContainsAsync(string vmId) => Task.FromResult(vmId is not null && _ids.Ids.Contains(vmId));

    public Task<ImmutableArray<string>> ListAsync() => Task.FromResult(_ids.Ids.ToImmutableArray());

    public Task<ImmutableArray<string>> ListAfterAsync(string? after, int limit)
    {
        if (limit is < 1 or > VmIndexShards.MaxPage)
        {
            throw OmigException.Invalid("limit", $"must be between 1 and {VmIndexShards.MaxPage}, got {limit}");
        }

        // The set is in ordinal order: a binary search finds the cursor, and the page is read from there.
        var ids = _ids.Ids;
        var start = 0;
        if (after is not null)
        {
            var at = ids.IndexOf(after);
            start = at >= 0 ? at + 1 : ~at;
        }

        var page = ImmutableArray.CreateBuilder<string>(Math.Min(limit, Math.Max(0, ids.Count - start)));
        for (var i = start; i < ids.Count && page.Count < limit; i++)
        {
            page.Add(ids[i]);
        }

        return Task.FromResult(page.ToImmutable());
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

    [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "Moved {Count} VM ids of index shard {Shard} from its one stored row into its rows")]
    private static partial void LogRelaidOut(ILogger logger, string shard, int count);
}
