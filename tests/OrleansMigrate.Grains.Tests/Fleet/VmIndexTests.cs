using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Fleet;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Tests.Fleet;

/// <summary>The VM index is sharded over <see cref="IVmIndexGrain"/>s; the fleet's answers must not change.</summary>
[Collection(ClusterCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Slow)]
public sealed class VmIndexTests(ClusterFixture fixture)
{
    private const string HostId = "h-c";

    private readonly Client.OmigClient _client = fixture.Client;

    private IGrainFactory Grains => fixture.Cluster.Client;

    [Fact]
    public async Task Creates_and_deletes_across_many_VMs_keep_the_VM_list_exact()
    {
        await EnsureHostAsync();
        var before = (await _client.ListVmsAsync()).Select(v => v.VmId).ToHashSet(StringComparer.Ordinal);
        var created = new List<string>();
        try
        {
            for (var i = 0; i < 48; i++)
            {
                var vm = TestFleet.Vm(TestFleet.Unique("vmi"), vcpus: 1, memoryMiB: 256);
                await _client.CreateVmAsync(vm, HostId);
                created.Add(vm.VmId);
            }

            Assert.True(created.Select(VmIndexShards.ShardOf).Distinct().Count() > 16, "48 random ids should land in many shards");
            var listed = (await _client.ListVmsAsync()).Select(v => v.VmId).ToList();
            Assert.Equal(listed.Count, listed.Distinct(StringComparer.Ordinal).Count());
            Assert.Equal(before.Union(created).OrderBy(x => x, StringComparer.Ordinal), listed.OrderBy(x => x, StringComparer.Ordinal));

            var deleted = created.Where((_, i) => i % 3 != 0).ToList();
            foreach (var id in deleted)
            {
                await _client.DeleteVmAsync(id);
            }

            created.RemoveAll(deleted.Contains);
            listed = (await _client.ListVmsAsync()).Select(v => v.VmId).ToList();
            Assert.Equal(before.Union(created).OrderBy(x => x, StringComparer.Ordinal), listed.OrderBy(x => x, StringComparer.Ordinal));
            Assert.All(deleted, id => Assert.DoesNotContain(id, listed));
        }
        finally
        {
            foreach (var id in created)
            {
                await _client.DeleteVmAsync(id);
            }
        }

        Assert.Equal(before.Order(StringComparer.Ordinal), (await _client.ListVmsAsync()).Select(v => v.VmId).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_VM_list_stays_in_id_order()
    {
        await EnsureHostAsync();
        var ids = new[] { "vmi-order-c", "vmi-order-a", "vmi-order-b" }.Select(p => TestFleet.Unique(p)).ToList();
        try
        {
            foreach (var id in ids)
            {
                await _client.CreateVmAsync(TestFleet.Vm(id, vcpus: 1, memoryMiB: 256), HostId);
            }

            var listed = (await _client.ListVmsAsync()).Select(v => v.VmId).ToList();
            Assert.Equal(listed.Order(Comparer<string>.Default), listed);
        }
        finally
        {
            foreach (var id in ids)
            {
                await _client.DeleteVmAsync(id);
            }
        }
    }

    [Fact]
    public async Task A_duplicate_VM_id_is_refused_on_vm_id_until_the_VM_is_deleted()
    {
        await EnsureHostAsync();
        var vm = TestFleet.Vm(TestFleet.Unique("vmi"), vcpus: 1, memoryMiB: 256);
        await _client.CreateVmAsync(vm, HostId);
        Assert.True(await Grains.GetGrain<IVmIndexGrain>(VmIndexShards.KeyFor(vm.VmId)).ContainsAsync(vm.VmId));

        var duplicate = await Assert.ThrowsAsync<OmigException>(() => _client.CreateVmAsync(vm, HostId));
        Assert.Equal(OmigErrorCode.Conflict, duplicate.Code);
        Assert.Equal("vm_id", duplicate.Field);

        await _client.DeleteVmAsync(vm.VmId);
        Assert.False(await Grains.GetGrain<IVmIndexGrain>(VmIndexShards.KeyFor(vm.VmId)).ContainsAsync(vm.VmId));
        var missing = await Assert.ThrowsAsync<OmigException>(() => _client.DeleteVmAsync(vm.VmId));
        Assert.Equal(OmigErrorCode.NotFound, missing.Code);
        Assert.Equal("vm_id", missing.Field);

        await _client.CreateVmAsync(vm, HostId);
        Assert.Contains(await _client.ListVmsAsync(), v => v.VmId == vm.VmId);
        await _client.DeleteVmAsync(vm.VmId);
    }

    [Fact]
    public async Task A_failed_create_leaves_no_index_entry()
    {
        await EnsureHostAsync();
        var vm = TestFleet.Vm(TestFleet.Unique("vmi"), vcpus: 1, memoryMiB: 256, features: ["avx512f"]);

        await Assert.ThrowsAsync<OmigException>(() => _client.CreateVmAsync(vm, HostId));

        Assert.False(await Grains.GetGrain<IVmIndexGrain>(VmIndexShards.KeyFor(vm.VmId)).ContainsAsync(vm.VmId));
        Assert.DoesNotContain(await _client.ListVmsAsync(), v => v.VmId == vm.VmId);
    }

    [Fact]
    public async Task A_shard_refuses_an_id_that_belongs_to_another_shard()
    {
        var id = TestFleet.Unique("vmi");
        var other = VmIndexShards.Key((VmIndexShards.ShardOf(id) + 1) % VmIndexShards.Count);

        var ex = await Assert.ThrowsAsync<OmigException>(() => Grains.GetGrain<IVmIndexGrain>(other).AddAsync(id));

        Assert.Equal("vm_id", ex.Field);
        Assert.DoesNotContain(id, await Grains.GetGrain<IVmIndexGrain>(other).ListAsync());
    }

    [Fact]
    public async Task A_stored_legacy_index_is_moved_into_the_shards_on_activation()
    {
        await EnsureHostAsync();
        var vms = Enumerable.Range(0, 12).Select(_ => TestFleet.Vm(TestFleet.Unique("vmi"), vcpus: 1, memoryMiB: 256)).ToList();
        foreach (var vm in vms)
        {
            await _client.CreateVmAsync(vm, HostId);
        }

        try
        {
            // As stored by an older version: the ids only in FleetGrainState.VmIds. One id stays in its
            // shard, as after a move that crashed halfway.
            var ids = vms.Select(v => v.VmId).ToImmutableSortedSet();
            foreach (var id in ids.Skip(1))
            {
                await Grains.GetGrain<IVmIndexGrain>(VmIndexShards.KeyFor(id)).RemoveAsync(id);
            }

            Assert.DoesNotContain(await _client.ListVmsAsync(), v => ids.Skip(1).Contains(v.VmId));

            // A fleet grain of its own key, so the cluster's one (already active) is not disturbed; the
            // shards are shared, as they are for the real key.
            var legacy = Grains.GetGrain<IFleetGrain>(TestFleet.Unique("legacy-fleet"));
            var storage = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(StorageNames.Fleet);
            var stored = new GrainState<FleetGrainState>(new FleetGrainState { HostIds = [HostId], VmIds = ids });
            await storage.WriteStateAsync("fleet", legacy.GetGrainId(), stored);

            Assert.Contains(await legacy.ListHostsAsync(), h => h.HostId == HostId);

            foreach (var id in ids)
            {
                Assert.True(await Grains.GetGrain<IVmIndexGrain>(VmIndexShards.KeyFor(id)).ContainsAsync(id), id);
            }

            var listed = (await _client.ListVmsAsync()).Select(v => v.VmId).ToList();
            Assert.All(ids, id => Assert.Single(listed, id));

            var reread = new GrainState<FleetGrainState>(new FleetGrainState());
            await storage.ReadStateAsync("fleet", legacy.GetGrainId(), reread);
            var read = Assert.IsType<FleetGrainState>(reread.State);
            Assert.Empty(read.VmIds);
            Assert.Empty(read.HostIds); // moved into the fleet's host-id rows (StoredLayoutTests checks where)

            var duplicate = await Assert.ThrowsAsync<OmigException>(() => _client.CreateVmAsync(vms[3], HostId));
            Assert.Equal("vm_id", duplicate.Field);
        }
        finally
        {
            foreach (var vm in vms)
            {
                // Put back what the move may have missed, so the VMs can be deleted whatever failed above.
                await Grains.GetGrain<IVmIndexGrain>(VmIndexShards.KeyFor(vm.VmId)).AddAsync(vm.VmId);
                await _client.DeleteVmAsync(vm.VmId);
            }
        }
    }

    private async Task EnsureHostAsync()
    {
        if (await Grains.GetGrain<IHostGrain>(HostId).GetAsync() is null)
        {
            try
            {
                await _client.AddHostAsync(TestFleet.Host(HostId, cores: 64, memoryMiB: 262144));
            }
            catch (OmigException ex) when (ex.Code == OmigErrorCode.Conflict)
            {
                // Another test registered it first.
            }
        }
    }
}
