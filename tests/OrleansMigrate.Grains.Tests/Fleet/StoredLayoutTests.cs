using System.Collections.Immutable;
using Orleans.Storage;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Fleet;

namespace OrleansMigrate.Tests.Fleet;

/// <summary>
/// What a VM create and a host add write (one small row, not the whole index), and the one-time move of rows stored in
/// the older one-row layouts into the rows of today's.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class StoredLayoutTests(FreshClusterFixture fixture) : IClassFixture<FreshClusterFixture>
{
    private IGrainStorage Storage => fixture.Storage;

    [Fact]
    public async Task A_VM_create_writes_one_row_of_its_shard_and_not_the_old_one()
    {
        await EnsureHostAsync();
        var vm = TestFleet.Vm(IdInShard("lay-create", 1), vcpus: 1, memoryMiB: 256);
        var shard = fixture.Grains.GetGrain<IVmIndexGrain>(VmIndexShards.Key(1));
        var before = await ReadRowsAsync(VmIndexGrain.RowPrefix, shard.GetGrainId(), VmIndexGrain.Buckets);

        await fixture.Client.CreateVmAsync(vm, FreshClusterFixture.HostId);
        try
        {
            var after = await ReadRowsAsync(VmIndexGrain.RowPrefix, shard.GetGrainId(), VmIndexGrain.Buckets);
            var bucket = IdBuckets.BucketOf(vm.VmId, VmIndexGrain.Buckets);
            Assert.Equal([bucket], Changed(before, after));
            Assert.Contains(vm.VmId, after[bucket].State.Ids);
            Assert.Equal(after[bucket].State.Ids.Order(StringComparer.Ordinal), after[bucket].State.Ids);

            var old = await ReadAsync<VmIndexGrainState>("vm-index", shard.GetGrainId());
            Assert.Empty(old.State.VmIds);
            Assert.True(await shard.ContainsAsync(vm.VmId));

            // Adding an id the shard holds writes nothing.
            await shard.AddAsync(vm.VmId);
            Assert.Empty(Changed(after, await ReadRowsAsync(VmIndexGrain.RowPrefix, shard.GetGrainId(), VmIndexGrain.Buckets)));
        }
        finally
        {
            await fixture.Client.DeleteVmAsync(vm.VmId);
        }

        var deleted = await ReadRowsAsync(VmIndexGrain.RowPrefix, shard.GetGrainId(), VmIndexGrain.Buckets);
        Assert.DoesNotContain(vm.VmId, deleted.SelectMany(r => r.State.Ids));
    }

    [Fact]
    public async Task A_host_add_writes_one_host_row_and_not_the_old_index_row()
    {
        var fleet = fixture.Grains.GetGrain<IFleetGrain>(TestFleet.Unique("lay-fleet"));
        await fleet.ListHostsAsync();
        var before = await ReadRowsAsync(FleetGrain.HostRowPrefix, fleet.GetGrainId(), FleetGrain.HostBuckets);
        var host = TestFleet.Unique("lay-host");

        await fleet.AddHostAsync(TestFleet.Host(host));
        try
        {
            var after = await ReadRowsAsync(FleetGrain.HostRowPrefix, fleet.GetGrainId(), FleetGrain.HostBuckets);
            var bucket = IdBuckets.BucketOf(host, FleetGrain.HostBuckets);
            Assert.Equal([bucket], Changed(before, after));
            Assert.Equal([host], after[bucket].State.Ids.ToArray());
            Assert.False((await ReadAsync<FleetGrainState>("fleet", fleet.GetGrainId())).RecordExists);
            Assert.Contains(await fleet.ListHostsAsync(), h => h.HostId == host);

            var duplicate = await Assert.ThrowsAsync<OmigException>(() => fleet.AddHostAsync(TestFleet.Host(host)));
            Assert.Equal("host_id", duplicate.Field);
        }
        finally
        {
            await fleet.RemoveHostAsync(host);
        }

        var removed = await ReadRowsAsync(FleetGrain.HostRowPrefix, fleet.GetGrainId(), FleetGrain.HostBuckets);
        Assert.Empty(removed.SelectMany(r => r.State.Ids));
        Assert.DoesNotContain(await fleet.ListHostsAsync(), h => h.HostId == host);
    }

    [Fact]
    public async Task A_shard_stored_in_one_row_is_moved_into_its_rows_on_activation()
    {
        // As an older version stored shard 2: all its ids in one row. Nothing has activated the shard yet.
        var shard = fixture.Grains.GetGrain<IVmIndexGrain>(VmIndexShards.Key(2));
        var ids = Enumerable.Range(0, 40).Select(i => IdInShard($"lay-old{i}", 2)).ToImmutableSortedSet(StringComparer.Ordinal);
        await Storage.WriteStateAsync("vm-index", shard.GetGrainId(), new GrainState<VmIndexGrainState>(new VmIndexGrainState { VmIds = [.. ids] }));

        Assert.Equal(ids.ToArray(), (await shard.ListAsync()).ToArray());
        Assert.Equal(ids.Take(5).ToArray(), (await shard.ListAfterAsync(null, 5)).ToArray());
        Assert.Equal(ids.Skip(6).Take(5).ToArray(), (await shard.ListAfterAsync(ids[5], 5)).ToArray());

        var old = await ReadAsync<VmIndexGrainState>("vm-index", shard.GetGrainId());
        Assert.Empty(old.State.VmIds);
        var rows = await ReadRowsAsync(VmIndexGrain.RowPrefix, shard.GetGrainId(), VmIndexGrain.Buckets);
        Assert.Equal(ids.ToArray(), rows.SelectMany(r => r.State.Ids).Order(StringComparer.Ordinal).ToArray());
        Assert.All(ids, id => Assert.Contains(id, rows[IdBuckets.BucketOf(id, VmIndexGrain.Buckets)].State.Ids));
        Assert.True(rows.Count(r => r.State.Ids.Length > 0) > 10, "40 ids should land in many rows");

        foreach (var id in ids)
        {
            await shard.RemoveAsync(id);
        }

        Assert.Empty(await shard.ListAsync());
    }

    [Fact]
    public async Task A_fleet_index_stored_in_one_row_is_moved_into_the_host_rows_and_shards_on_activation()
    {
        await EnsureHostAsync();
        var fleet = fixture.Grains.GetGrain<IFleetGrain>(TestFleet.Unique("lay-legacy"));
        var vmId = IdInShard("lay-legacy-vm", 3);
        var stored = new FleetGrainState { HostIds = [FreshClusterFixture.HostId], VmIds = [vmId] };
        await Storage.WriteStateAsync("fleet", fleet.GetGrainId(), new GrainState<FleetGrainState>(stored));

        Assert.Contains(await fleet.ListHostsAsync(), h => h.HostId == FreshClusterFixture.HostId);

        var old = await ReadAsync<FleetGrainState>("fleet", fleet.GetGrainId());
        Assert.Empty(old.State.HostIds);
        Assert.Empty(old.State.VmIds);
        var rows = await ReadRowsAsync(FleetGrain.HostRowPrefix, fleet.GetGrainId(), FleetGrain.HostBuckets);
        Assert.Equal([FreshClusterFixture.HostId], rows.SelectMany(r => r.State.Ids));
        var index = fixture.Grains.GetGrain<IVmIndexGrain>(VmIndexShards.Key(3));
        Assert.True(await index.ContainsAsync(vmId));
        await index.RemoveAsync(vmId);

        var duplicate = await Assert.ThrowsAsync<OmigException>(() => fleet.AddHostAsync(TestFleet.Host(FreshClusterFixture.HostId)));
        Assert.Equal("host_id", duplicate.Field);
    }

    private static string IdInShard(string prefix, int shard)
    {
        for (var i = 0; ; i++)
        {
            var id = $"{prefix}-{i}";
            if (VmIndexShards.ShardOf(id) == shard)
            {
                return id;
            }
        }
    }

    private static int[] Changed(Row<IdBucketState>[] before, Row<IdBucketState>[] after) =>
        [.. Enumerable.Range(0, before.Length).Where(i => before[i].ETag != after[i].ETag)];

    private async Task<Row<IdBucketState>[]> ReadRowsAsync(string prefix, GrainId grain, int count) =>
        await Task.WhenAll(Enumerable.Range(0, count).Select(i => ReadAsync<IdBucketState>(IdBuckets.StateName(prefix, i), grain)));

    private async Task<Row<T>> ReadAsync<T>(string stateName, GrainId grain)
        where T : new()
    {
        var state = new GrainState<T>(new T());
        await Storage.ReadStateAsync(stateName, grain, state);
        return new Row<T>(state.State ?? new T(), state.ETag, state.RecordExists);
    }

    /// <summary>A stored row as read: its state (empty when absent), version tag and whether it exists.</summary>
    private sealed record Row<T>(T State, string? ETag, bool RecordExists);

    private async Task EnsureHostAsync()
    {
        if (await fixture.Grains.GetGrain<IHostGrain>(FreshClusterFixture.HostId).GetAsync() is null)
        {
            await fixture.Client.AddHostAsync(TestFleet.Host(FreshClusterFixture.HostId, cores: 64, memoryMiB: 262144));
        }
    }
}
