using System.Globalization;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Fleet;

namespace OrleansMigrate.Tests.Fleet;

/// <summary>The row a stored id goes to, and the claims that keep concurrent fleet changes apart.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class IdBucketsAndClaimsTests
{
    [Fact]
    public void The_ids_of_one_shard_spread_over_all_its_rows()
    {
        // The bench's ids: 200,000 VMs, about 3,125 per shard, should give each of a shard's 64 rows about 49.
        var ids = Enumerable.Range(0, 200_000).Select(i => "v-" + i.ToString("000000", CultureInfo.InvariantCulture)).ToList();
        foreach (var shard in new[] { 0, 17, 63 })
        {
            var counts = ids.Where(id => VmIndexShards.ShardOf(id) == shard)
                .GroupBy(id => IdBuckets.BucketOf(id, VmIndexGrain.Buckets))
                .Select(g => g.Count())
                .ToList();
            Assert.Equal(VmIndexGrain.Buckets, counts.Count);
            var mean = counts.Average();
            Assert.True(counts.Max() < 2 * mean, $"shard {shard}: largest row {counts.Max()}, mean {mean:0}");
        }
    }

    [Fact]
    public void The_row_of_an_id_is_stable_and_in_range()
    {
        // Stored rows depend on this mapping: these values must never change.
        Assert.Equal(IdBuckets.BucketOf("v-000001", 64), IdBuckets.BucketOf(new string("v-000001".ToCharArray()), 64));
        Assert.All(Enumerable.Range(0, 1000), i => Assert.InRange(IdBuckets.BucketOf("h-" + i, 64), 0, 63));
        Assert.Equal("fleet-hosts-b07", IdBuckets.StateName("fleet-hosts", 7));
    }

    [Fact]
    public async Task Claims_on_different_names_are_granted_at_once_and_a_shared_name_waits_for_its_release()
    {
        var claims = new ClaimSet();
        var first = await claims.AcquireAsync(["vm:a", "disk:d1"]);
        var other = claims.AcquireAsync(["vm:b", "disk:d2"]);
        Assert.True(other.IsCompletedSuccessfully);

        var shared = claims.AcquireAsync(["vm:c", "disk:d1"]);
        Assert.False(shared.IsCompleted);
        Assert.Equal(4, claims.HeldCount);

        first.Dispose();
        var third = await shared.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(4, claims.HeldCount);

        third.Dispose();
        third.Dispose();
        (await other).Dispose();
        Assert.Equal(0, claims.HeldCount);
    }
}
