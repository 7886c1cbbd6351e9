using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Tests.Fleet;

/// <summary>
/// The fleet grain runs creates concurrently; a VM id, a disk and a VPC address must still go to exactly one of several
/// concurrent creates that claim them, and a refused create must leave nothing behind.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class ConcurrentCreateTests(ClusterFixture fixture)
{
    private const string HostId = "h-c";

    private IGrainFactory Grains => fixture.Cluster.Client;

    [Fact]
    public async Task Concurrent_creates_of_one_VM_id_make_exactly_one_VM()
    {
        await EnsureHostAsync();
        var vm = TestFleet.Vm(TestFleet.Unique("cc-same"), vcpus: 1, memoryMiB: 256);

        var outcomes = await OutcomesAsync(Enumerable.Range(0, 8).Select(_ => fixture.Client.CreateVmAsync(vm, HostId)));
        try
        {
            Assert.Equal(1, outcomes.Count(o => o is null));
            Assert.All(outcomes.OfType<OmigException>(), e => Assert.Equal(("vm_id", OmigErrorCode.Conflict), (e.Field, e.Code)));
            Assert.Single(await fixture.Client.ListVmsAsync(), v => v.VmId == vm.VmId);
            var host = await Grains.GetGrain<IHostGrain>(HostId).GetAsync();
            Assert.True(host!.Vms.ContainsKey(vm.VmId));
            Assert.Equal(vm.VmId, (await Grains.GetGrain<ICloudDiskGrain>(vm.Disks[0].DiskId).GetAsync())!.VmId);
        }
        finally
        {
            await fixture.Client.DeleteVmAsync(vm.VmId);
        }
    }

    [Fact]
    public async Task Concurrent_creates_claiming_one_disk_make_exactly_one_VM()
    {
        await EnsureHostAsync();
        var disk = TestFleet.Unique("cc-disk");
        var vms = Enumerable.Range(0, 4)
            .Select(_ => TestFleet.Vm(TestFleet.Unique("cc-d"), vcpus: 1, memoryMiB: 256) with { Disks = [new DiskSpec(disk, 40)] })
            .ToList();

        await RunOneWinnerAsync(vms, "disks[0].id", async winner =>
            Assert.Equal(winner.VmId, (await Grains.GetGrain<ICloudDiskGrain>(disk).GetAsync())!.VmId));
    }

    [Fact]
    public async Task Concurrent_creates_claiming_one_address_make_exactly_one_VM()
    {
        await EnsureHostAsync();
        var vpc = TestFleet.Unique("cc-vpc");
        var ip = TestFleet.RandomIp();
        var vms = Enumerable.Range(0, 4).Select(_ => TestFleet.Vm(TestFleet.Unique("cc-n"), vcpus: 1, memoryMiB: 256, vpc: vpc, ip: ip)).ToList();

        await RunOneWinnerAsync(vms, "nics[0].ip", async winner =>
            Assert.Equal(winner.VmId, (await Grains.GetGrain<IVpcFlowTableGrain>(vpc).GetAsync()).Flows[ip].VmId));
    }

    [Fact]
    public async Task Concurrent_creates_of_different_VMs_all_succeed()
    {
        await EnsureHostAsync();
        var vms = Enumerable.Range(0, 12).Select(_ => TestFleet.Vm(TestFleet.Unique("cc-many"), vcpus: 1, memoryMiB: 256, vpc: "cc-many", ip: TestFleet.RandomIp())).ToList();
        vms = [.. vms.DistinctBy(v => v.Nics[0].Ip)];

        var outcomes = await OutcomesAsync(vms.Select(v => fixture.Client.CreateVmAsync(v, HostId)));
        try
        {
            Assert.All(outcomes, Assert.Null);
            var listed = (await fixture.Client.ListVmsAsync()).Select(v => v.VmId).ToHashSet(StringComparer.Ordinal);
            Assert.All(vms, v => Assert.Contains(v.VmId, listed));
            var host = await Grains.GetGrain<IHostGrain>(HostId).GetAsync();
            Assert.All(vms, v => Assert.True(host!.Vms.ContainsKey(v.VmId), v.VmId));
        }
        finally
        {
            foreach (var v in vms)
            {
                await fixture.Client.DeleteVmAsync(v.VmId);
            }
        }
    }

    /// <summary>Creates <paramref name="vms"/> at once: exactly one succeeds, every other is refused on
    /// <paramref name="field"/> and leaves no VM, index entry or ledger entry.</summary>
    private async Task RunOneWinnerAsync(List<VmSpec> vms, string field, Func<VmSpec, Task> checkWinner)
    {
        var outcomes = await OutcomesAsync(vms.Select(v => fixture.Client.CreateVmAsync(v, HostId)));
        var winners = vms.Where((_, i) => outcomes[i] is null).ToList();
        try
        {
            var winner = Assert.Single(winners);
            Assert.All(outcomes.OfType<OmigException>(), e => Assert.Equal((field, OmigErrorCode.Conflict), (e.Field, e.Code)));
            await checkWinner(winner);
            var host = await Grains.GetGrain<IHostGrain>(HostId).GetAsync();
            foreach (var loser in vms.Where(v => v != winner))
            {
                Assert.Null(await Grains.GetGrain<IVmGrain>(loser.VmId).GetAsync());
                Assert.False(await Grains.GetGrain<IVmIndexGrain>(VmIndexShards.KeyFor(loser.VmId)).ContainsAsync(loser.VmId));
                Assert.False(host!.Vms.ContainsKey(loser.VmId), loser.VmId);
            }
        }
        finally
        {
            foreach (var w in winners)
            {
                await fixture.Client.DeleteVmAsync(w.VmId);
            }
        }
    }

    /// <summary>Each task's failure (null: it succeeded), in order; a failure that is not an <see cref="OmigException"/> fails the test.</summary>
    private static async Task<OmigException?[]> OutcomesAsync(IEnumerable<Task<VmRecord>> creates)
    {
        var tasks = creates.ToList();
        await Task.WhenAll(tasks.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        return [.. tasks.Select(t => t.IsCompletedSuccessfully ? null : Assert.IsType<OmigException>(t.Exception!.InnerException))];
    }

    private async Task EnsureHostAsync()
    {
        if (await Grains.GetGrain<IHostGrain>(HostId).GetAsync() is null)
        {
            try
            {
                await fixture.Client.AddHostAsync(TestFleet.Host(HostId, cores: 64, memoryMiB: 262144));
            }
            catch (OmigException e) when (e.Code == OmigErrorCode.Conflict)
            {
                // Another test class registered it first.
            }
        }
    }
}
