using System.Collections.Immutable;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;
using OrleansMigrate.Tests.Migration;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Operations;

/// <summary>
/// Devices through the whole system with the simulated driver: creates hold them in the host ledger, live moves unplug
/// and plug SR-IOV VFs, drains move VF VMs and report pass-through GPU VMs as needing a cold move. Each test builds its
/// own hosts with a CPU flag only they have, so nothing else lands on them.
/// </summary>
[Collection(OperationsCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class DeviceOperationsTests(MigrationClusterFixture fixture) : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);
    private static readonly DeviceCount A10 = new(DeviceKind.Gpu, "A10", 1);

    private OmigClient Client => fixture.Client;

    public void Dispose() => fixture.Faults.Clear();

    [Fact]
    public async Task A_create_holds_its_devices_and_a_host_without_them_free_refuses_naming_the_device_and_nothing_changes()
    {
        var (hosts, flag) = await HostsAsync([[new(DeviceKind.Gpu, "A10", 1), new(DeviceKind.Vf, "mlx5", 4)], []]);
        var first = Vm(flag, A10, new(DeviceKind.Vf, "mlx5", 2));

        var refused = await Assert.ThrowsAsync<OmigException>(() => Client.CreateVmAsync(first, hosts[1]));
        Assert.Equal((OmigErrorCode.InsufficientCapacity, "devices"), (refused.Code, refused.Field));
        Assert.Equal($"host {hosts[1]} has 0 free gpu:A10, needs 1", refused.Reason);
        Assert.Empty((await Client.GetHostAsync(hosts[1])).Vms);
        await Assert.ThrowsAsync<OmigException>(() => Client.GetVmAsync(first.VmId));

        await Client.CreateVmAsync(first, hosts[0]);
        var host = await Client.GetHostAsync(hosts[0]);
        Assert.Equal((1, 0, 2, 2), (host.UsedDevices("gpu:A10"), host.FreeDevices("gpu:A10"), host.UsedDevices("vf:mlx5"), host.FreeDevices("vf:mlx5")));
        Assert.Equal(["vf-mlx5-0", "vf-mlx5-1"], (await fixture.Runtime.PluggedDevicesAsync(hosts[0], first.VmId)).ToArray());

        var second = await Assert.ThrowsAsync<OmigException>(() => Client.CreateVmAsync(Vm(flag, A10), hosts[0]));
        Assert.Equal($"host {hosts[0]} has 0 free gpu:A10, needs 1", second.Reason);

        // The inventory cannot drop under what is held.
        var shrink = await Assert.ThrowsAsync<OmigException>(() => Client.SetHostDevicesAsync(hosts[0], [new(DeviceKind.Vf, "mlx5", 4)]));
        Assert.Equal((OmigErrorCode.Conflict, "devices"), (shrink.Code, shrink.Field));
        Assert.Contains("1 gpu:A10 held", shrink.Reason, StringComparison.Ordinal);
        var grown = await Client.SetHostDevicesAsync(hosts[0], [new(DeviceKind.Gpu, "A10", 2), new(DeviceKind.Vf, "mlx5", 4)]);
        Assert.Equal(1, grown.FreeDevices("gpu:A10"));
    }

    [Fact]
    public async Task Concurrent_creates_never_hold_more_devices_than_the_host_offers()
    {
        var (hosts, flag) = await HostsAsync([[new(DeviceKind.Vf, "mlx5", 4)]]);
        var specs = Enumerable.Range(0, 7).Select(_ => Vm(flag, new DeviceCount(DeviceKind.Vf, "mlx5", 1))).ToList();

        var results = await Task.WhenAll(specs.Select(async s =>
        {
            try
            {
                await Client.CreateVmAsync(s, hosts[0]);
                return null;
            }
            catch (OmigException ex)
            {
                return ex;
            }
        }));

        Assert.Equal(4, results.Count(r => r is null));
        Assert.All(results.OfType<OmigException>(), ex => Assert.Equal($"host {hosts[0]} has 0 free vf:mlx5, needs 1", ex.Reason));
        var host = await Client.GetHostAsync(hosts[0]);
        Assert.Equal((4, 0, 4), (host.Vms.Count, host.FreeDevices("vf:mlx5"), host.UsedDevices("vf:mlx5")));
    }

    [Fact]
    public async Task A_migration_and_a_create_racing_for_the_last_VFs_of_a_host_never_both_get_them()
    {
        var vf2 = new DeviceCount(DeviceKind.Vf, "mlx5", 2);
        var (hosts, flag) = await HostsAsync([[vf2], [vf2]]);
        var moving = Vm(flag, vf2);
        await Client.CreateVmAsync(moving, hosts[0]);
        var rival = Vm(flag, vf2);

        var maxUsed = 0;
        using var watching = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!watching.IsCancellationRequested)
            {
                var h = await Client.GetHostAsync(hosts[1]);
                maxUsed = Math.Max(maxUsed, h.UsedDevices("vf:mlx5"));
                await Task.Delay(20);
            }
        });
        var migrate = Catch(() => Client.MigrateAsync(new MigrationRequest(moving.VmId, hosts[1])));
        var create = Catch(() => Client.CreateVmAsync(rival, hosts[1]));
        var (migration, migrateError) = await migrate;
        var (_, createError) = await create;
        MigrationStatus? ended = migration is null ? null : await WaitMigrationAsync(migration.MigrationId);
        await watching.CancelAsync();
        await watcher;

        var migrated = ended?.Phase == MigrationPhase.Completed;
        var created = createError is null;
        Assert.True(migrated != created, $"exactly one should win: migration {ended?.Phase.ToString() ?? migrateError?.Message}, create {createError?.Message ?? "ok"}");
        var destination = await Client.GetHostAsync(hosts[1]);
        Assert.Equal(2, destination.UsedDevices("vf:mlx5"));
        Assert.Empty(destination.Reservations);
        Assert.True(maxUsed <= 2, $"the destination held {maxUsed} VFs of 2");
        Assert.Equal(migrated ? 0 : 2, (await Client.GetHostAsync(hosts[0])).UsedDevices("vf:mlx5"));
    }

    [Fact]
    public async Task A_live_move_of_a_VF_VM_unplugs_its_VFs_on_the_source_first_and_plugs_them_on_the_destination_after()
    {
        var vf2 = new DeviceCount(DeviceKind.Vf, "mlx5", 2);
        var (hosts, flag) = await HostsAsync([[vf2], [vf2]]);
        var vm = Vm(flag, vf2);
        await Client.CreateVmAsync(vm, hosts[0]);

        var started = await Client.MigrateAsync(new MigrationRequest(vm.VmId, hosts[1]));
        var ended = await WaitMigrationAsync(started.MigrationId);

        Assert.Equal(MigrationPhase.Completed, ended.Phase);
        Assert.Equal(
            [("vf-mlx5-0", hosts[0], DeviceAction.Unplug), ("vf-mlx5-1", hosts[0], DeviceAction.Unplug), ("vf-mlx5-0", hosts[1], DeviceAction.Plug), ("vf-mlx5-1", hosts[1], DeviceAction.Plug)],
            ended.DeviceSteps.Select(s => (s.Device, s.Host, s.Action)));
        Assert.All(ended.DeviceSteps, s => Assert.True(s.LatencyMs >= 20, $"{s.Action} {s.Device} took {s.LatencyMs} ms, below the model's latency"));
        var precopy = ended.Timeline.First(p => p.Phase == MigrationPhase.PreCopy).StartedAt;
        Assert.All(ended.DeviceSteps.Where(s => s.Action == DeviceAction.Unplug), s => Assert.True(s.At <= precopy, "a VF was unplugged after pre-copy began"));
        var committed = ended.Timeline.First(p => p.Phase == MigrationPhase.PostMigration).StartedAt;
        Assert.All(ended.DeviceSteps.Where(s => s.Action == DeviceAction.Plug), s => Assert.True(s.At >= committed, "a VF was plugged before the resume"));
        Assert.Equal(["vf-mlx5-0", "vf-mlx5-1"], (await fixture.Runtime.PluggedDevicesAsync(hosts[1], vm.VmId)).ToArray());
        Assert.Equal((0, 2), ((await Client.GetHostAsync(hosts[0])).UsedDevices("vf:mlx5"), (await Client.GetHostAsync(hosts[1])).UsedDevices("vf:mlx5")));
    }

    [Fact]
    public async Task A_drain_moves_the_VF_VM_live_to_the_host_with_VFs_and_the_pass_through_GPU_VM_cold_to_the_host_with_a_free_GPU()
    {
        var vf = new DeviceCount(DeviceKind.Vf, "mlx5", 1);
        // hosts[1] has the most room but no VFs and no GPU; hosts[2] has both.
        var (hosts, flag) = await HostsAsync([[vf, A10], [], [vf, A10]], cores: [64, 128, 32]);
        var vfVm = Vm(flag, vf);
        var gpuVm = Vm(flag, A10);
        await Client.CreateVmAsync(vfVm, hosts[0]);
        await Client.CreateVmAsync(gpuVm, hosts[0]);

        var drain = await WaitDrainAsync(await Client.DrainHostAsync(hosts[0]));

        Assert.Equal(DrainState.Completed, drain.State);
        var moved = drain.Vms.Single(v => v.VmId == vfVm.VmId);
        Assert.Equal((DrainVmState.Moved, hosts[2]), (moved.State, moved.Destination));
        var migration = await Client.GetMigrationAsync(moved.MigrationId!);
        Assert.Null(migration.Cold);
        Assert.Equal([DeviceAction.Unplug, DeviceAction.Plug], migration.DeviceSteps.Select(s => s.Action));

        // The GPU cannot move live ("pass-through gpu:A10 needs a cold move"); its policy allows cold moves, so the drain
        // moved it cold, to the one host with a GPU free, whose ledger now holds it.
        var cold = drain.Vms.Single(v => v.VmId == gpuVm.VmId);
        Assert.Equal((DrainVmState.Moved, hosts[2]), (cold.State, cold.Destination));
        Assert.NotNull((await Client.GetMigrationAsync(cold.MigrationId!)).Cold);
        Assert.Equal(hosts[2], (await Client.GetVmAsync(gpuVm.VmId)).HostId);
        Assert.Equal((0, 1), ((await Client.GetHostAsync(hosts[0])).UsedDevices("gpu:A10"), (await Client.GetHostAsync(hosts[2])).UsedDevices("gpu:A10")));
    }

    [Fact]
    public async Task A_drain_with_no_free_GPU_elsewhere_reports_the_pass_through_GPU_VM_unmovable_and_it_keeps_its_GPU()
    {
        // hosts[1] has room but no GPU: neither a live nor a cold move can take the GPU VM anywhere.
        var (hosts, flag) = await HostsAsync([[A10], []], cores: [64, 128]);
        var gpuVm = Vm(flag, A10);
        await Client.CreateVmAsync(gpuVm, hosts[0]);

        var drain = await WaitDrainAsync(await Client.DrainHostAsync(hosts[0]));

        Assert.Equal(DrainState.Incomplete, drain.State);
        var stuck = drain.Vms.Single(v => v.VmId == gpuVm.VmId);
        Assert.Equal(DrainVmState.Unmovable, stuck.State);
        // The reason lists the first refusals of every host of the shared test cluster, not only this test's.
        Assert.StartsWith("no host can take it", stuck.Reason, StringComparison.Ordinal);
        Assert.Equal(hosts[0], (await Client.GetVmAsync(gpuVm.VmId)).HostId);
        Assert.Equal(1, (await Client.GetHostAsync(hosts[0])).UsedDevices("gpu:A10"));
    }

    [Fact]
    public async Task A_live_migration_of_a_pass_through_GPU_VM_or_of_a_vGPU_VM_on_QEMU_7_2_is_refused_with_the_reason()
    {
        var vgpu = new DeviceCount(DeviceKind.Vgpu, "A10-4Q", 1);
        var (hosts, flag) = await HostsAsync([[A10, vgpu], [A10, vgpu]]);
        var gpuVm = Vm(flag, A10);
        var vgpuVm = Vm(flag, vgpu);
        await Client.CreateVmAsync(gpuVm, hosts[0]);
        await Client.CreateVmAsync(vgpuVm, hosts[0]);

        var gpu = await Assert.ThrowsAsync<OmigException>(() => Client.MigrateAsync(new MigrationRequest(gpuVm.VmId, hosts[1])));
        var mediated = await Assert.ThrowsAsync<OmigException>(() => Client.MigrateAsync(new MigrationRequest(vgpuVm.VmId, hosts[1])));

        Assert.Equal(OmigErrorCode.Incompatible, gpu.Code);
        Assert.Contains("pass-through gpu:A10 needs a cold move", gpu.Reason, StringComparison.Ordinal);
        Assert.Contains("needs QEMU ≥ 8.1 switchover-ack", mediated.Reason, StringComparison.Ordinal);
        Assert.Empty((await Client.GetHostAsync(hosts[1])).Reservations);
        Assert.Equal(hosts[0], (await Client.GetVmAsync(vgpuVm.VmId)).HostId);
    }

    private static async Task<(T? Value, OmigException? Error)> Catch<T>(Func<Task<T>> call)
        where T : class
    {
        try
        {
            return (await call(), null);
        }
        catch (OmigException ex)
        {
            return (null, ex);
        }
    }

    private async Task<(string[] Hosts, string Flag)> HostsAsync(DeviceCount[][] devices, int[]? cores = null)
    {
        var flag = "dev_" + Guid.NewGuid().ToString("N")[..8];
        var ids = devices.Select(_ => TestFleet.Unique("dh")).ToArray();
        for (var i = 0; i < ids.Length; i++)
        {
            var spec = TestFleet.Host(ids[i], cores: cores?[i] ?? 64, memoryMiB: (cores?[i] ?? 64) * 4096L, features: ["avx", flag]) with { Devices = [.. devices[i]] };
            await Client.AddHostAsync(spec);
        }

        return (ids, flag);
    }

    private static VmSpec Vm(string flag, params DeviceCount[] devices) =>
        TestFleet.Vm(TestFleet.Unique("dv"), vcpus: 2, memoryMiB: 4096, features: [flag], ip: TestFleet.RandomIp()) with
        {
            Labels = ImmutableDictionary<string, string>.Empty.Add("sim.dirty-mbps", "5"),
            Devices = [.. devices],
        };

    private async Task<MigrationStatus> WaitMigrationAsync(string id) =>
        await Eventually.UntilAsync(() => Client.GetMigrationAsync(id), m => m.IsEnded, Limit, $"migration {id} ends", TimeSpan.FromMilliseconds(100));

    private async Task<DrainStatus> WaitDrainAsync(DrainStatus drain) =>
        await Eventually.UntilAsync(() => Client.GetDrainAsync(drain.HostId), d => d.IsEnded, Limit, $"the drain of {drain.HostId} ends", TimeSpan.FromMilliseconds(100));
}
