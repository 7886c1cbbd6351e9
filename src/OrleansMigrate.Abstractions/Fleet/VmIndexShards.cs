using System.Globalization;

namespace OrleansMigrate.Fleet;

/// <summary>
/// Which <see cref="IVmIndexGrain"/> shard holds a VM id: a fixed number of shards, chosen by a stable
/// hash of the id (32-bit FNV-1a over the id's UTF-16 chars, xor-folded to 16 bits) — never
/// <see cref="string.GetHashCode()"/>, which differs per process. Stored shard rows depend on this
/// mapping: changing <see cref="Count"/> or the hash strands every stored entry in the wrong shard.
/// </summary>
public static class VmIndexShards
{
    /// <summary>The number of shards; the keys are <c>vm-index-00</c> … <c>vm-index-63</c>.</summary>
    public const int Count = 64;

    /// <summary>The most ids one <see cref="IVmIndexGrain.ListAfterAsync"/> call returns.</summary>
    public const int MaxPage = 1024;

    private const string KeyPrefix = "vm-index-";

    /// <summary>The shard number (0 to <see cref="Count"/> - 1) of <paramref name="vmId"/>.</summary>
    public static int ShardOf(string vmId)
    {
        ArgumentNullException.ThrowIfNull(vmId);
        return Naming.StableHash.Shard(vmId, Count);
    }

    /// <summary>The grain key of shard <paramref name="shard"/>, e.g. <c>vm-index-07</c>.</summary>
    public static string Key(int shard)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, Count);
        return KeyPrefix + shard.ToString("00", CultureInfo.InvariantCulture);
    }

    /// <summary>The grain key of the shard that holds <paramref name="vmId"/>.</summary>
    public static string KeyFor(string vmId) => Key(ShardOf(vmId));

    /// <summary>The grain keys of all shards, in shard order.</summary>
    public static IEnumerable<string> AllKeys() => Enumerable.Range(0, Count).Select(Key);
}
