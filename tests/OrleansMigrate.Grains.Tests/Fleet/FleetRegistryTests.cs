using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Tests.Fleet;

[Collection(ClusterCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class FleetRegistryTests(ClusterFixture fixture)
{
    private readonly Client.OmigClient _client = fixture.Client;

    [Fact]
    public async Task Creating_a_VM_reserves_its_capacity_creates_its_disk_and_flow_and_starts_it_on_the_host_agent()
    {
        await EnsureHostAsync("h-a");
        var before = await _client.GetHostAsync("h-a");
        var ip = TestFleet.RandomIp();
        var vm = TestFleet.Vm(TestFleet.Unique("vm"), vcpus: 2, memoryMiB: 2048, ip: ip);

        var record = await _client.CreateVmAsync(vm, "h-a");

        Assert.Equal("h-a", record.HostId);
        var after = await _client.GetHostAsync("h-a");
        Assert.Equal(before.UsedVcpus + 2, after.UsedVcpus);
        Assert.Equal(before.UsedMemoryMiB + 2048, after.UsedMemoryMiB);
        var disk = await _client.GetDiskAsync(vm.Disks[0].DiskId);
        Assert.NotNull(disk);
        Assert.Equal("h-a", disk.WriterHost);
        Assert.Equal(1, disk.FencingGeneration);
        Assert.Equal("h-a", await fixture.Cluster.Client.GetGrain<IVpcFlowTableGrain>("vpc-1").ResolveAsync(ip));
        Assert.Contains(vm.VmId, (await _client.GetHostAgentAsync("h-a")).RunningVms);
    }

    [Fact]
    public async Task Deleting_a_VM_frees_capacity_and_removes_disk_flow_and_the_running_guest()
    {
        await EnsureHostAsync("h-a");
        var ip = TestFleet.RandomIp();
        var vm = TestFleet.Vm(TestFleet.Unique("vm"), ip: ip);
        await _client.CreateVmAsync(vm, "h-a");
        var before = await _client.GetHostAsync("h-a");

        await _client.DeleteVmAsync(vm.VmId);

        var after = await _client.GetHostAsync("h-a");
        Assert.Equal(before.UsedVcpus - vm.Vcpus, after.UsedVcpus);
        Assert.Null(await _client.GetDiskAsync(vm.Disks[0].DiskId));
        Assert.Null(await fixture.Cluster.Client.GetGrain<IVpcFlowTableGrain>("vpc-1").ResolveAsync(ip));
        Assert.DoesNotContain(vm.VmId, (await _client.GetHostAgentAsync("h-a")).RunningVms);
        Assert.DoesNotContain(await _client.ListVmsAsync(), v => v.VmId == vm.VmId);
    }

    [Fact]
    public async Task Over_commit_is_refused_naming_the_field_and_nothing_changes()
    {
        await EnsureHostAsync("h-b");
        var host = await _client.GetHostAsync("h-b");
        var vm = TestFleet.Vm(TestFleet.Unique("vm"), vcpus: host.FreeVcpus + 1);
        var vmsBefore = await _client.ListVmsAsync();

        var ex = await Assert.ThrowsAsync<OmigException>(() => _client.CreateVmAsync(vm, "h-b"));

        Assert.Equal(OmigErrorCode.InsufficientCapacity, ex.Code);
        Assert.Equal("vcpus", ex.Field);
        Assert.Equal(host.UsedVcpus, (await _client.GetHostAsync("h-b")).UsedVcpus);
        Assert.Null(await _client.GetDiskAsync(vm.Disks[0].DiskId));
        Assert.Equal(vmsBefore.Length, (await _client.ListVmsAsync()).Length);
    }

    [Fact]
    public async Task Memory_over_commit_is_refused_on_memory_mib()
    {
        await EnsureHostAsync("h-b");
        var host = await _client.GetHostAsync("h-b");
        var vm = TestFleet.Vm(TestFleet.Unique("vm"), vcpus: 1, memoryMiB: host.FreeMemoryMiB + 1024);

        var ex = await Assert.ThrowsAsync<OmigException>(() => _client.CreateVmAsync(vm, "h-b"));

        Assert.Equal("memory_mib", ex.Field);
    }

    [Fact]
    public async Task An_unknown_host_is_refused_with_NotFound()
    {
        var ex = await Assert.ThrowsAsync<OmigException>(() => _client.CreateVmAsync(TestFleet.Vm(TestFleet.Unique("vm")), "h-unknown"));

        Assert.Equal(OmigErrorCode.NotFound, ex.Code);
        Assert.Equal("host", ex.Field);
    }

    [Fact]
    public async Task A_duplicate_VM_id_is_refused_and_the_first_VM_is_untouched()
    {
        await EnsureHostAsync("h-a");
        var vm = TestFleet.Vm(TestFleet.Unique("vm"));
        await _client.CreateVmAsync(vm, "h-a");
        var host = await _client.GetHostAsync("h-a");

        var ex = await Assert.ThrowsAsync<OmigException>(() => _client.CreateVmAsync(vm with { Vcpus = 1 }, "h-a"));

        Assert.Equal(OmigErrorCode.Conflict, ex.Code);
        Assert.Equal("vm_id", ex.Field);
        Assert.Equal(vm.Vcpus, (await _client.GetVmAsync(vm.VmId)).Spec.Vcpus);
        Assert.Equal(host.UsedVcpus, (await _client.GetHostAsync("h-a")).UsedVcpus);
    }

    [Fact]
    public async Task A_VM_needing_CPU_features_the_host_lacks_is_refused_as_Incompatible()
    {
        await EnsureHostAsync("h-a");
        var vm = TestFleet.Vm(TestFleet.Unique("vm"), features: ["avx512f"]);

        var ex = await Assert.ThrowsAsync<OmigException>(() => _client.CreateVmAsync(vm, "h-a"));

        Assert.Equal(OmigErrorCode.Incompatible, ex.Code);
        Assert.Contains("avx512f", ex.Message);
    }

    [Fact]
    public async Task An_IP_already_owned_in_the_VPC_is_refused_and_no_capacity_is_taken()
    {
        await EnsureHostAsync("h-a");
        var ip = TestFleet.RandomIp();
        await _client.CreateVmAsync(TestFleet.Vm(TestFleet.Unique("vm"), ip: ip), "h-a");
        var host = await _client.GetHostAsync("h-a");

        var ex = await Assert.ThrowsAsync<OmigException>(() => _client.CreateVmAsync(TestFleet.Vm(TestFleet.Unique("vm"), ip: ip), "h-a"));

        Assert.Equal("nics[0].ip", ex.Field);
        Assert.Equal(host.UsedVcpus, (await _client.GetHostAsync("h-a")).UsedVcpus);
    }

    [Fact]
    public async Task A_cordoned_host_takes_no_new_VMs_until_uncordoned()
    {
        await EnsureHostAsync("h-b");
        await _client.CordonHostAsync("h-b");
        try
        {
            var ex = await Assert.ThrowsAsync<OmigException>(() => _client.CreateVmAsync(TestFleet.Vm(TestFleet.Unique("vm"), vcpus: 1, memoryMiB: 512), "h-b"));
            Assert.Contains("cordoned", ex.Message);
        }
        finally
        {
            await _client.UncordonHostAsync("h-b");
        }

        await _client.CreateVmAsync(TestFleet.Vm(TestFleet.Unique("vm"), vcpus: 1, memoryMiB: 512), "h-b");
    }

    [Fact]
    public async Task Reservations_count_against_capacity_and_release_is_idempotent()
    {
        await EnsureHostAsync("h-b");
        var host = fixture.Cluster.Client.GetGrain<IHostGrain>("h-b");
        var free = (await host.GetAsync())!.FreeVcpus;
        var reservation = TestFleet.Unique("mig");

        await host.ReserveAsync(reservation, TestFleet.Vm("sized", vcpus: free));
        var ex = await Assert.ThrowsAsync<OmigException>(() => _client.CreateVmAsync(TestFleet.Vm(TestFleet.Unique("vm"), vcpus: 1), "h-b"));
        Assert.Equal(OmigErrorCode.InsufficientCapacity, ex.Code);

        await host.ReleaseAsync(reservation);
        await host.ReleaseAsync(reservation);
        Assert.Equal(free, (await host.GetAsync())!.FreeVcpus);
    }

    [Fact]
    public async Task A_host_with_VMs_cannot_be_removed_and_a_duplicate_host_is_refused()
    {
        await EnsureHostAsync("h-a");
        await _client.CreateVmAsync(TestFleet.Vm(TestFleet.Unique("vm"), vcpus: 1, memoryMiB: 256), "h-a");

        var remove = await Assert.ThrowsAsync<OmigException>(() => _client.RemoveHostAsync("h-a"));
        var duplicate = await Assert.ThrowsAsync<OmigException>(() => _client.AddHostAsync(TestFleet.Host("h-a")));

        Assert.Equal(OmigErrorCode.Conflict, remove.Code);
        Assert.Equal(OmigErrorCode.Conflict, duplicate.Code);
        Assert.Equal("host_id", duplicate.Field);
    }

    [Fact]
    public async Task Creating_a_VM_on_a_registered_host_whose_silo_is_absent_fails_and_undoes_every_step()
    {
        // Registered, but no silo names it: the agent cannot start the VM, so nothing may remain.
        var hostId = "h-orphan";
        if (await fixture.Cluster.Client.GetGrain<IHostGrain>(hostId).GetAsync() is null)
        {
            await _client.AddHostAsync(TestFleet.Host(hostId));
        }

        var ip = TestFleet.RandomIp();
        var vm = TestFleet.Vm(TestFleet.Unique("vm"), ip: ip);

        var ex = await Assert.ThrowsAsync<OmigException>(() => _client.CreateVmAsync(vm, hostId));

        Assert.Equal(OmigErrorCode.Unavailable, ex.Code);
        Assert.Equal(0, (await _client.GetHostAsync(hostId)).UsedVcpus);
        Assert.Null(await _client.GetDiskAsync(vm.Disks[0].DiskId));
        Assert.Null(await fixture.Cluster.Client.GetGrain<IVpcFlowTableGrain>("vpc-1").ResolveAsync(ip));
        Assert.Null(await fixture.Cluster.Client.GetGrain<IVmGrain>(vm.VmId).GetAsync());
    }

    private async Task EnsureHostAsync(string hostId)
    {
        if (await fixture.Cluster.Client.GetGrain<IHostGrain>(hostId).GetAsync() is null)
        {
            try
            {
                await _client.AddHostAsync(TestFleet.Host(hostId, cores: 64, memoryMiB: 262144));
            }
            catch (OmigException ex) when (ex.Code == OmigErrorCode.Conflict)
            {
                // Another test registered it first.
            }
        }
    }
}
