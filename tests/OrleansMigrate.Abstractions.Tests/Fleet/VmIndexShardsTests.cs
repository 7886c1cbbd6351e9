using System.Globalization;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Tests.Fleet;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class VmIndexShardsTests
{
    // Computed outside .NET (FNV-1a 32 over the UTF-16 chars, xor-folded, mod 64). Stored shard rows
    // depend on this mapping: if these change, existing stores put VMs in the wrong shard.
    [Theory]
    [InlineData("vm-1", 49)]
    [InlineData("vm-00001", 34)]
    [InlineData("h001-vm-0001", 14)]
    [InlineData("bench-vm-000123", 58)]
    [InlineData("a", 32)]
    public void The_shard_of_an_id_is_fixed(string vmId, int shard)
    {
        Assert.Equal(shard, VmIndexShards.ShardOf(vmId));
        Assert.Equal($"vm-index-{shard:00}", VmIndexShards.KeyFor(vmId));
    }

    [Fact]
    public void The_same_id_always_gets_the_same_shard()
    {
        var id = "vm-" + Guid.NewGuid().ToString("N");
        var copy = new string(id.ToCharArray());

        Assert.Equal(VmIndexShards.ShardOf(id), VmIndexShards.ShardOf(copy));
        Assert.Equal(VmIndexShards.KeyFor(id), VmIndexShards.KeyFor(copy));
    }

    [Fact]
    public void Sequential_ids_spread_over_every_shard()
    {
        var counts = Enumerable.Range(0, 6400)
            .Select(i => VmIndexShards.ShardOf("vm-" + i.ToString("00000", CultureInfo.InvariantCulture)))
            .GroupBy(s => s)
            .ToDictionary(g => g.Key, g => g.Count());

        Assert.Equal(VmIndexShards.Count, counts.Count);
        Assert.All(counts.Values, n => Assert.InRange(n, 50, 200));
    }

    [Fact]
    public void The_keys_are_zero_padded_and_distinct()
    {
        var keys = VmIndexShards.AllKeys().ToList();

        Assert.Equal(64, keys.Count);
        Assert.Equal("vm-index-00", keys[0]);
        Assert.Equal("vm-index-07", keys[7]);
        Assert.Equal("vm-index-63", keys[63]);
        Assert.Equal(keys.Count, keys.Distinct().Count());
        Assert.Throws<ArgumentOutOfRangeException>(() => VmIndexShards.Key(64));
    }
}
