using OrleansMigrate.Tests.Shared;
using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using OrleansMigrate.Agents;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Tests.Migration;

/// <summary>
/// The silo running a migration dies mid-way. A three-silo cluster with grain state and reminders on
/// PostgreSQL: silo 0 is the host silo (hosts c-1, c-2: their hypervisors stay up), silos 1 and 2 are
/// control silos; the one holding the migration grain is killed, and the migration must be re-driven
/// from its persisted phase on the other and end consistent.
/// </summary>
[Collection(PostgresCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Postgres)]
public sealed class CrashRecoveryTests(PostgresFixture pg)
{
    private static readonly string[] Hosts = ["c-1", "c-2"];

    [Fact]
    public async Task A_control_silo_killed_during_PreCopy_leaves_a_migration_that_is_re_driven_to_a_consistent_end()
    {
        await using var cluster = await StartAsync(diskCloseMs: 50);
        var client = new OmigClient(cluster.Client);
        var vm = await CreateVmAsync(client, "c-1", guestMiB: 256);

        var started = await client.MigrateAsync(new MigrationRequest(vm.VmId, "c-2", Policy: "economy"));
        await WaitForPhaseAsync(client, started.MigrationId, MigrationPhase.PreCopy);
        await KillSiloOfAsync(cluster, started.MigrationId);

        var status = await WaitEndedAsync(client, started.MigrationId);

        Assert.True(status.Phase is MigrationPhase.Completed or MigrationPhase.RolledBack, $"ended {status.Phase}: {status.Failure}");
        Assert.True(status.Attempts >= 2, "the migration was not re-driven by a new activation");
        await AssertWholeAsync(client, cluster, vm, status.Phase == MigrationPhase.Completed ? "c-2" : "c-1");
    }

    [Fact]
    public async Task A_control_silo_killed_during_PostMigration_leaves_a_migration_that_rolls_forward_to_completion()
    {
        await using var cluster = await StartAsync(diskCloseMs: 4000);
        var client = new OmigClient(cluster.Client);
        var vm = await CreateVmAsync(client, "c-2", guestMiB: 16);

        var started = await client.MigrateAsync(new MigrationRequest(vm.VmId, "c-1"));
        await WaitForPhaseAsync(client, started.MigrationId, MigrationPhase.PostMigration);
        await KillSiloOfAsync(cluster, started.MigrationId);

        var status = await WaitEndedAsync(client, started.MigrationId);

        Assert.Equal(MigrationPhase.Completed, status.Phase);
        Assert.True(status.Attempts >= 2, "the migration was not re-driven by a new activation");
        await AssertWholeAsync(client, cluster, vm, "c-1");
    }

    private async Task<InProcessTestCluster> StartAsync(int diskCloseMs)
    {
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((options, silo) =>
        {
            silo.Services.AddSingleton(new CloudBackendOptions { DiskOpenReadOnlyMs = 20, DiskCloseMs = diskCloseMs, FlowInstallMsPerFlow = 2, FlowsPerNic = 5 });
            silo.Services.Configure<HostRuntimeOptions>(o => o.SimulatedGuestMiB = 16);
            silo.AddOmigPostgresStorage(pg.ConnectionString);
            silo.AddOrleansMigrateCore(options.SiloName == "Silo_0" ? SiloRole.Host : SiloRole.Control, options.SiloName == "Silo_0" ? string.Join(',', Hosts) : "");
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        var client = new OmigClient(cluster.Client);
        foreach (var host in Hosts)
        {
            await client.AddHostAsync(new HostSpec(host, 64, 262144, "Xeon", ["avx2"], 3, "2.4.0", "6.1.0", "7.2.0", ImmutableDictionary<string, string>.Empty));
        }

        return cluster;
    }

    private static async Task<VmSpec> CreateVmAsync(OmigClient client, string host, int guestMiB)
    {
        var id = "cr-" + Guid.NewGuid().ToString("N")[..8];
        var spec = new VmSpec(id, 2, 4096, [], "standard",
            ImmutableDictionary<string, string>.Empty.Add(SimulatedVmSpecs.MemoryLabel, $"{guestMiB}").Add(SimulatedVmSpecs.DirtyLabel, "10"),
            [new DiskSpec(id + "-root", 10)], [new NicSpec("vpc-cr", $"10.77.{Random.Shared.Next(0, 250)}.{Random.Shared.Next(1, 250)}", "02:00:00:00:00:77")], []);
        await client.CreateVmAsync(spec, host);
        return spec;
    }

    /// <summary>Kills the control silo whose activation runs the migration (never the host silo).</summary>
    private static async Task KillSiloOfAsync(InProcessTestCluster cluster, string migrationId)
    {
        var grainId = GrainId.Create("migration", migrationId);
        Assert.True(cluster.TryGetGrainContext(grainId, out var context), "the migration grain is not active in the cluster");
        var silo = cluster.Silos.Single(s => s.SiloAddress.Equals(context!.Address.SiloAddress));
        Assert.NotEqual("Silo_0", silo.Name);
        await cluster.KillSiloAsync(silo);
    }

    private static async Task AssertWholeAsync(OmigClient client, InProcessTestCluster cluster, VmSpec vm, string host)
    {
        var runtime = cluster.Silos.Single(s => s.Name == "Silo_0").ServiceProvider.GetRequiredService<IHostRuntime>();
        foreach (var h in Hosts)
        {
            Assert.Equal(h == host ? HypervisorVmState.Running : null, await runtime.VmStateAsync(h, vm.VmId));
            var record = await client.GetHostAsync(h);
            Assert.Empty(record.Reservations);
            Assert.Equal(h == host, record.Vms.ContainsKey(vm.VmId));
        }

        Assert.Equal(host, (await client.GetVmAsync(vm.VmId)).HostId);
        var disk = await client.GetDiskAsync(vm.Disks[0].DiskId);
        Assert.Equal(host, disk!.WriterHost);
        Assert.Single(disk.Attachments);
        var table = await client.GetVpcAsync(vm.Nics[0].VpcId);
        Assert.Equal(host, table.Flows[vm.Nics[0].Ip].HostId);
        Assert.DoesNotContain(table.Relays, r => r.Ip == vm.Nics[0].Ip);
    }

    private static Task WaitForPhaseAsync(OmigClient client, string id, MigrationPhase phase) =>
        Eventually.TrueAsync(async () => (await client.GetMigrationAsync(id)).Phase >= phase, TimeSpan.FromSeconds(60),
            $"migration {id} reaching {phase}", TimeSpan.FromMilliseconds(5));

    /// <summary>Polls like an operator's watch (each call re-activates the grain on a live silo if its silo died).</summary>
    private static async Task<MigrationStatus> WaitEndedAsync(OmigClient client, string id)
    {
        // Until membership declares the killed silo dead, calls routed to it fail: those errors are retried.
        return await Eventually.UntilAsync(() => client.GetMigrationAsync(id), status => status.IsEnded, TimeSpan.FromMinutes(3),
            $"migration {id} ends after its silo was killed", TimeSpan.FromMilliseconds(250),
            ex => ex is SiloUnavailableException or TimeoutException or OrleansMessageRejectionException);
    }
}
