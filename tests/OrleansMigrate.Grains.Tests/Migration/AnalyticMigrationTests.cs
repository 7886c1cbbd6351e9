using System.Collections.Immutable;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.TestingHost;
using OrleansMigrate.Agents;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Migration;
using OrleansMigrate.Tests.Cloud;
using Xunit.Abstractions;

namespace OrleansMigrate.Tests.Migration;

/// <summary>One all-roles silo whose host agents run the analytic driver (modelled memory, 1000x time), VMs at their registered size.</summary>
public sealed class AnalyticClusterFixture : IAsyncLifetime
{
    public static readonly string[] HostIds = ["an-1", "an-2", "an-3"];

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public OmigClient Client { get; private set; } = null!;

    public IHostRuntime Runtime => Cluster.Silos[0].ServiceProvider.GetRequiredService<IHostRuntime>();

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton(CloudClusterFixture.FastOptions());
            silo.Services.Configure<HostRuntimeOptions>(o =>
            {
                o.Driver = HypervisorKind.Analytic;
                o.TimeAcceleration = 1000;
            });
            silo.Services.Configure<MigrationPolicyOptions>(o =>
            {
                // A 1 Gb/s link and a 20 ms target: a 16 MiB hot set dirtied at 500 MB/s never fits.
                o.Policies["an-slow"] = new MigrationPolicy { Name = "an-slow", DowntimeTargetMs = 20, LinkBandwidthBytesPerSecond = 125_000_000 };
            });
            // Admission is per host here (2 out, 2 in); the cluster-wide cap would otherwise hold the throughput test at 16.
            silo.Services.Configure<MigrationAdmissionOptions>(o => o.MaxPerCluster = 1000);
            silo.AddOmigMemoryStorage();
            silo.UseInMemoryReminderService();
            silo.AddOrleansMigrateCore(SiloRole.All, SiloMetadataKeys.AnyHost);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        Client = new OmigClient(Cluster.Client);
        foreach (var host in HostIds)
        {
            await Client.AddHostAsync(TestFleet.Host(host, cores: 256, memoryMiB: 1024 * 1024));
        }
    }

    public async Task<VmSpec> CreateVmAsync(string hostId, long memoryMiB, int dirtyMbps, int hotSetMiB = 0)
    {
        var id = TestFleet.Unique("av");
        var labels = ImmutableDictionary<string, string>.Empty.Add(SimulatedVmSpecs.DirtyLabel, dirtyMbps.ToString(CultureInfo.InvariantCulture));
        if (hotSetMiB > 0)
        {
            labels = labels.Add(SimulatedVmSpecs.HotSetLabel, hotSetMiB.ToString(CultureInfo.InvariantCulture));
        }

        var spec = TestFleet.Vm(id, vcpus: 4, memoryMiB: memoryMiB, ip: TestFleet.RandomIp()) with
        {
            Disks = [new DiskSpec(id + "-root", 40)],
            Labels = labels,
        };
        await Client.CreateVmAsync(spec, hostId);
        return spec;
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class AnalyticMigrationTests(AnalyticClusterFixture fixture, ITestOutputHelper output) : IClassFixture<AnalyticClusterFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task An_orchestrated_migration_of_a_16_GiB_VM_completes_on_the_analytic_driver_with_modelled_data_plane_times()
    {
        Assert.Equal("analytic", fixture.Runtime.DriverName);
        var vm = await fixture.CreateVmAsync("an-1", memoryMiB: 16384, dirtyMbps: 200);
        Assert.Equal(HypervisorVmState.Running, await fixture.Runtime.VmStateAsync("an-1", vm.VmId));

        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "an-2"));
        var status = await WaitEndedAsync(started.MigrationId);

        Assert.True(status.Phase == MigrationPhase.Completed, status.Failure);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "an-2", AnalyticClusterFixture.HostIds);
        Assert.NotNull(status.Downtime);
        Assert.NotNull(status.Hypervisor);
        Assert.Equal("analytic", status.Hypervisor.Driver);

        // A modelled guest has no memory to read: its check says so, and is never counted as a pass.
        Assert.NotNull(status.GuestCheck);
        Assert.Equal(GuestCheckVerdict.NotChecked, status.GuestCheck.Verdict);
        Assert.Contains("analytic", status.GuestCheck.Detail, StringComparison.Ordinal);
        // 16 GiB went over the 10 Gb/s link at least once: >= 16 GiB on the wire and ~13.7 s of modelled pre-copy,
        // in far less wall time.
        Assert.True(status.Hypervisor.TransferredBytes >= 16L << 30, $"{status.Hypervisor.TransferredBytes} bytes");
        Assert.True(status.Hypervisor.TotalMs > 13_000, $"modelled total {status.Hypervisor.TotalMs} ms");
        Assert.True(status.TotalMs < status.Hypervisor.TotalMs, $"wall {status.TotalMs} ms vs modelled {status.Hypervisor.TotalMs} ms");
        Assert.True(status.Downtime.DataPlaneMs is > 0 and < 20, $"modelled final copy {status.Downtime.DataPlaneMs} ms");
    }

    /// <remarks>
    /// The policy's 30 rounds (~134 ms of modelled time each, 0.13 ms of wall time) end pre-copy long before the
    /// grain's wall-clock stall detector could escalate: it is the engine's round limit that switches over here.
    /// </remarks>
    [Fact]
    public async Task A_guest_that_never_converges_switches_over_at_the_round_limit_and_completes()
    {
        var vm = await fixture.CreateVmAsync("an-3", memoryMiB: 4096, dirtyMbps: 500, hotSetMiB: 16);

        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "an-1", Policy: "an-slow"));
        var status = await WaitEndedAsync(started.MigrationId);

        Assert.True(status.Phase == MigrationPhase.Completed, status.Failure);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "an-1", AnalyticClusterFixture.HostIds);
        // The whole 16 MiB hot set went in the final copy: ~134 ms of modelled downtime over 1 Gb/s.
        Assert.Equal(4096, status.Downtime!.FinalPages);
        Assert.True(status.Hypervisor!.DirtySyncCount >= 30, $"{status.Hypervisor.DirtySyncCount} rounds");
        Assert.True(status.Downtime.DataPlaneMs > 100, $"modelled final copy {status.Downtime.DataPlaneMs} ms");
    }

    /// <remarks>
    /// 3,000 MB/s dirtied over all 4 GiB on critical's 10 Gb/s link: every round resends the whole guest, so pre-copy
    /// never converges. Critical's <c>OnTimeout=abort</c> goes to the engine with its limits, and the engine's own
    /// clock (modelled, 1000x) aborts at its limit long before any grain-side timer could act.
    /// </remarks>
    [Fact]
    public async Task A_critical_VM_that_cannot_converge_is_aborted_by_the_engine_at_its_limit_and_rolls_back_on_the_source()
    {
        var vm = await fixture.CreateVmAsync("an-1", memoryMiB: 4096, dirtyMbps: 3000);

        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "an-2", Policy: "critical"));
        var status = await WaitEndedAsync(started.MigrationId);

        Assert.True(status.Phase == MigrationPhase.RolledBack, $"{status.Phase}: {status.Failure}");
        Assert.Contains("pre-copy aborted at its ", status.Failure);
        Assert.Contains("policy 'critical', on limit: abort", status.Failure);
        Assert.DoesNotContain(status.Timeline, t => t.Phase == MigrationPhase.Switchover);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "an-1", AnalyticClusterFixture.HostIds);
        Assert.Equal(HypervisorVmState.Running, await fixture.Runtime.VmStateAsync("an-1", vm.VmId));
    }

    [Fact]
    public async Task A_standard_VM_that_cannot_converge_is_switched_over_at_the_engines_limit_and_completes()
    {
        var vm = await fixture.CreateVmAsync("an-2", memoryMiB: 4096, dirtyMbps: 3000);

        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "an-3", Policy: "standard"));
        var status = await WaitEndedAsync(started.MigrationId);

        Assert.True(status.Phase == MigrationPhase.Completed, status.Failure);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "an-3", AnalyticClusterFixture.HostIds);
        // Forced: the whole guest was still dirty at the pause, far over the 20 ms target.
        Assert.True(status.Hypervisor!.DirtySyncCount >= 30, $"{status.Hypervisor.DirtySyncCount} rounds");
        Assert.True(status.Downtime!.DataPlaneMs > 1000, $"modelled final copy {status.Downtime.DataPlaneMs} ms");
    }

    [Fact]
    public async Task Two_hundred_concurrent_orchestrated_migrations_across_forty_hosts_all_complete()
    {
        const int hostCount = 40;
        const int vmsPerHost = 5;
        var hosts = Enumerable.Range(0, hostCount).Select(h => $"an-t-{h}").ToArray();
        foreach (var host in hosts)
        {
            await fixture.Client.AddHostAsync(TestFleet.Host(host, cores: 256, memoryMiB: 1024 * 1024));
        }

        var vms = new List<(VmSpec Vm, string To)>();
        for (var h = 0; h < hostCount; h++)
        {
            for (var v = 0; v < vmsPerHost; v++)
            {
                vms.Add((await fixture.CreateVmAsync(hosts[h], memoryMiB: 8192, dirtyMbps: 100), hosts[(h + 1) % hostCount]));
            }
        }

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var started = await Task.WhenAll(vms.Select(m => fixture.Client.MigrateAsync(new MigrationRequest(m.Vm.VmId, m.To))));
        var ended = await Task.WhenAll(started.Select(s => WaitEndedAsync(s.MigrationId)));
        watch.Stop();

        output.WriteLine($"{ended.Length} orchestrated analytic migrations (8 GiB, 100 MB/s, 1000x; admission 2 out / 2 in per host) on {hostCount} hosts in one silo: {watch.Elapsed.TotalSeconds:F2} s, {ended.Length / watch.Elapsed.TotalSeconds:F0} migrations/s");
        var phases = ended.SelectMany(s => s.Timeline).Where(t => t.EndedAt is not null)
            .GroupBy(t => t.Phase).Select(g => $"{g.Key} {g.Average(t => (t.EndedAt!.Value - t.StartedAt).TotalMilliseconds):F1}");
        output.WriteLine($"mean wall ms per phase: {string.Join(", ", phases)}; mean total {ended.Average(s => s.TotalMs ?? 0):F1} ms");
        Assert.All(ended, s => Assert.True(s.Phase == MigrationPhase.Completed, s.Failure));
        foreach (var (vm, to) in vms)
        {
            Assert.Equal(to, (await fixture.Client.GetVmAsync(vm.VmId)).HostId);
        }
    }

    private async Task<MigrationStatus> WaitEndedAsync(string id)
    {
        using var cts = new CancellationTokenSource(Limit);
        MigrationStatus? last = null;
        await foreach (var status in fixture.Client.WatchMigrationAsync(id, cts.Token))
        {
            last = status;
        }

        return last ?? await fixture.Client.GetMigrationAsync(id);
    }
}
