using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Cloud.Nbd;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Migration;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Cloud.Nbd;

/// <summary>
/// The migration grain over the NBD block store (a silo whose <see cref="ICloudDiskBackend"/> is an
/// <see cref="NbdCloudDiskBackend"/> attached to a daemon the test supervises, as the lab runs one), with simulated
/// guests: the storage daemon dies while a migration prepares the destination's disk. The step fails, the migration
/// rolls back, the VM runs on the source, and once the daemon is back the disk is served to the source only — the
/// destination's export does not exist (written through deliberately, and refused).
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class NbdClusterMigrationTests
{
    [Fact]
    public async Task A_migration_whose_storage_daemon_dies_during_prepare_rolls_back_and_the_disk_is_served_to_the_source_only()
    {
        var root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"omn-{Guid.NewGuid():N}"[..16])).FullName;
        var socket = Path.Combine(root, "qmp.sock");
        var port = NbdLab.FreePort();
        var daemon = NbdLab.StartSupervised(root, socket);
        try
        {
            await NbdLab.WaitForPidFileAsync(root);
            await using var store = new NbdCloudDiskBackend(await QemuStorageDaemon.AttachAsync(socket, root, "127.0.0.1", port), imageSizeMiB: 4);
            var faults = new ScriptedFaults();
            var builder = new InProcessTestClusterBuilder(1);
            builder.ConfigureSilo((_, silo) =>
            {
                silo.Services.AddSingleton(CloudClusterFixture.FastOptions());
                silo.Services.AddSingleton<IFaultInjector>(faults);
                silo.Services.AddSingleton<ICloudDiskBackend>(store);
                silo.Services.Configure<HostRuntimeOptions>(o => o.SimulatedGuestMiB = 8);
                silo.AddOmigMemoryStorage();
                silo.UseInMemoryReminderService();
                silo.AddOrleansMigrateCore(SiloRole.All, SiloMetadataKeys.AnyHost);
            });
            await using var cluster = builder.Build();
            await cluster.DeployAsync();
            var client = new OmigClient(cluster.Client);
            await client.AddHostAsync(TestFleet.Host("n-1"));
            await client.AddHostAsync(TestFleet.Host("n-2"));
            var id = TestFleet.Unique("nv");
            var vm = TestFleet.Vm(id, vcpus: 1, memoryMiB: 512, ip: TestFleet.RandomIp()) with { Disks = [new DiskSpec(id + "-d", 1)] };
            await client.CreateVmAsync(vm, "n-1");
            var disk = vm.Disks[0].DiskId;
            Assert.Equal([$"{disk}@n-1#g1"], await store.LiveExportsAsync(disk));

            // Prepare waits at the destination agent, the step before the disks; the daemon dies meanwhile.
            faults.Delay(FaultSteps.AgentPrepareIncoming, TimeSpan.FromSeconds(2));
            var started = await client.MigrateAsync(new MigrationRequest(vm.VmId, "n-2"));
            await Eventually.TrueAsync(() => faults.Seen.Contains(FaultSteps.AgentPrepareIncoming), TimeSpan.FromSeconds(30), "prepare reaching the destination agent");
            await NbdLab.StopSupervisedAsync(daemon);
            await Eventually.UntilAsync(() => client.GetMigrationAsync(started.MigrationId), s => s.IsEnded || s.Phase == MigrationPhase.RollingBack,
                TimeSpan.FromSeconds(60), "the migration rolling back");
            faults.Clear();

            // Its supervisor starts it again; the store attaches by itself and serves what its table holds.
            daemon = NbdLab.StartSupervised(root, socket);
            await NbdLab.WaitForPidFileAsync(root);
            var ended = await Eventually.UntilAsync(() => client.GetMigrationAsync(started.MigrationId), s => s.IsEnded, TimeSpan.FromSeconds(60), "the migration ending");
            Assert.Equal(MigrationPhase.RolledBack, ended.Phase);
            Assert.Contains("storage daemon", ended.Failure);
            var record = await client.GetVmAsync(vm.VmId);
            Assert.Equal(("n-1", PowerState.Running), (record.HostId, record.Power));

            await Eventually.TrueAsync(() => store.DaemonRestarts >= 1, TimeSpan.FromSeconds(20), "the store attaching to the daemon again");
            Assert.Equal([$"{disk}@n-1#g1"], await store.LiveExportsAsync(disk));
            Assert.Equal(["n-1"], store.Inspect(disk)!.Handles.Keys);
            var source = await HostCommand.TryRunAsync("qemu-io", ["-f", "raw", Uri(port, $"{disk}@n-1#g1"), "-c", "write -P 0x5a 0 4k"]);
            Assert.True(source.ExitCode == 0, "the source's write: " + source.Stderr);
            var destination = await HostCommand.TryRunAsync("qemu-io", ["-f", "raw", Uri(port, $"{disk}@n-2#g2"), "-c", "write -P 0xee 4096 4k"]);
            Assert.NotEqual(0, destination.ExitCode);
            var image = await File.ReadAllBytesAsync(store.ImagePath(disk));
            Assert.Equal((0x5a, 0x00), (image[0], image[4096]));
        }
        finally
        {
            await NbdLab.StopSupervisedAsync(daemon);
            Directory.Delete(root, recursive: true);
        }
    }

    private static string Uri(int port, string export) => $"nbd://127.0.0.1:{port}/{System.Uri.EscapeDataString(export)}";
}
