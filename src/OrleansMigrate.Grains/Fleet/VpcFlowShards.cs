using System.Globalization;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// Which <see cref="IVpcFlowShardGrain"/> of a VPC holds the flow of an IP: a fixed number of shards per VPC,
/// chosen by a stable hash of the IP (32-bit FNV-1a over its UTF-16 chars, xor-folded to 16 bits, as
/// <see cref="VmIndexShards"/>) — never <see cref="string.GetHashCode()"/>, which differs per process. Stored
/// shard rows depend on this mapping: changing <see cref="Count"/> or the hash strands every stored flow in the
/// wrong shard.
/// </summary>
internal static class VpcFlowShards
{
    /// <summary>The number of shards of one VPC; the keys are <c>{vpc}/00</c> … <c>{vpc}/63</c>.</summary>
    public const int Count = 64;

    /// <summary>The shard number (0 to <see cref="Count"/> - 1) of <paramref name="ip"/>.</summary>
    public static int ShardOf(string ip)
    {
        ArgumentNullException.ThrowIfNull(ip);
        return Naming.StableHash.Shard(ip, Count);
    }

    /// <summary>The grain key of shard <paramref name="shard"/> of <paramref name="vpcId"/>, e.g. <c>vpc-1/07</c>.</summary>
    public static string Key(string vpcId, int shard)
    {
        ArgumentNullException.ThrowIfNull(vpcId);
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, Count);
        return vpcId + "/" + shard.ToString("00", CultureInfo.InvariantCulture);
    }

    /// <summary>The shard number a shard grain key ends with, or -1 when the key is not a shard key.</summary>
    public static int ShardOfKey(string key)
    {
        var slash = key.LastIndexOf('/');
        return slash > 0
            && key.Length - slash == 3
            && int.TryParse(key.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var shard)
            && shard < Count
                ? shard
                : -1;
    }
}
