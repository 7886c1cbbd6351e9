using System.Collections.Immutable;

namespace OrleansMigrate.Fleet;

/// <summary>
/// One shard of the VM index: the ids of the VMs that exist and hash to this shard (key:
/// <see cref="VmIndexShards.Key"/>). Written only by <see cref="IFleetGrain"/>, which adds an id as the
/// last step of a create (its commit point) and removes it as the last step of a delete. Each shard
/// stores only its own ids, spread over 64 rows of its own, so a change writes about 1/4,096 of the fleet's ids.
/// </summary>
[Alias("omig.IVmIndexGrain")]
public interface IVmIndexGrain : IGrainWithStringKey
{
    /// <summary>Adds <paramref name="vmId"/>. Idempotent; refused (field <c>vm_id</c>) when the id belongs to another shard.</summary>
    [Alias("Add")]
    Task AddAsync(string vmId);

    /// <summary>Adds every id in one write. Idempotent; refused as a whole when an id belongs to another shard.</summary>
    [Alias("AddMany")]
    Task AddManyAsync(ImmutableArray<string> vmIds);

    /// <summary>Removes <paramref name="vmId"/>. Idempotent.</summary>
    [Alias("Remove")]
    Task RemoveAsync(string vmId);

    [Alias("Contains")]
    Task<bool> ContainsAsync(string vmId);

    /// <summary>The ids in this shard, in ordinal order.</summary>
    [Alias("List")]
    Task<ImmutableArray<string>> ListAsync();

    /// <summary>At most <paramref name="limit"/> ids of this shard that sort (ordinally) after <paramref name="after"/>
    /// (null: from the first), in ordinal order: one page of a walk over the whole index that never holds more than a page.</summary>
    [Alias("ListAfter")]
    Task<ImmutableArray<string>> ListAfterAsync(string? after, int limit);
}
