using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Grains.Operations;
using OrleansMigrate.Operations;
using OrleansMigrate.Tests.Migration;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Operations;

/// <summary>Rolling firmware-upgrade campaigns on the simulated maintenance backend (upgrades take 200 ms). Each test
/// selects its own hosts by a label only they carry.</summary>
[Collection(OperationsCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class CampaignTests(MigrationClusterFixture fixture) : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    private OmigClient Client => fixture.Client;

    private SimulatedMaintenanceBackend Maintenance => (SimulatedMaintenanceBackend)fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<IMaintenanceBackend>();

    public void Dispose() => fixture.Faults.Clear();

    [Fact]
    public async Task A_campaign_upgrades_every_selected_host_and_moves_each_VM_once_onto_upgraded_hosts()
    {
        var (group, hosts, flag) = await HostsAsync(3);
        var vms = new List<VmSpec>();
        foreach (var host in hosts[1..])
        {
            vms.Add(await VmAsync(host, flag));
            vms.Add(await VmAsync(host, flag));
        }

        // More in flight than one drain may take (64): each drain gets its most, not a refusal that skips every host.
        var campaign = await WaitAsync(await Client.StartCampaignAsync(new CampaignSpec("2.0.0", "group", group, Batch: 1, MaxParallelMigrations: 100)));

        Assert.Equal(CampaignState.Completed, campaign.State);
        Assert.Equal(3, campaign.HostsUpgraded);
        Assert.Equal(0, campaign.HostsFailed);
        // The empty host goes first and is upgraded; every later drain prefers upgraded hosts, so no VM moves twice.
        Assert.Equal(hosts[0], campaign.Hosts[0].HostId);
        Assert.Equal(vms.Count, campaign.VmsMoved);
        foreach (var host in hosts)
        {
            var record = await Client.GetHostAsync(host);
            Assert.Equal("2.0.0", record.Spec.FirmwareVersion);
            Assert.Equal(SchedulingState.Schedulable, record.Scheduling);
        }

        foreach (var vm in vms)
        {
            Assert.Equal(PowerState.Running, (await Client.GetVmAsync(vm.VmId)).Power);
        }

        Assert.True((await FleetAuditor.AuditAsync(Client)).Clean);
        Assert.Contains(await Client.ListCampaignsAsync(), c => c.CampaignId == campaign.CampaignId);
        Assert.NotNull(campaign.TotalSeconds);
    }

    [Fact]
    public async Task A_campaign_moves_VMs_that_cannot_move_live_cold_in_their_window_and_upgrades_every_host()
    {
        var (group, hosts, flag) = await HostsAsync(3);
        var cold = new List<VmSpec>();
        foreach (var host in hosts[1..])
        {
            await VmAsync(host, flag);
            cold.Add(await VmAsync(host, flag, policy: "cold-window"));
        }

        var campaign = await WaitAsync(await Client.StartCampaignAsync(new CampaignSpec("2.0.0", "group", group, Batch: 1, MaxParallelMigrations: 100)));

        Assert.Equal(CampaignState.Completed, campaign.State);
        Assert.Equal(3, campaign.HostsUpgraded);
        Assert.Empty(campaign.Unmovable);
        foreach (var vm in cold)
        {
            var record = await Client.GetVmAsync(vm.VmId);
            Assert.Equal(PowerState.Running, record.Power);
            var moves = (await Client.ListMigrationsAsync(includeEnded: true)).Where(m => m.Request.VmId == vm.VmId && m.Phase == OrleansMigrate.Migration.MigrationPhase.Completed).ToList();
            Assert.NotEmpty(moves);
            Assert.All(moves, m => Assert.True(m.Request.Cold && m.Cold!.DowntimeMs > 0, $"{m.MigrationId}: cold {m.Request.Cold}"));
        }

        Assert.True((await FleetAuditor.AuditAsync(Client)).Clean);
    }

    [Fact]
    public async Task A_campaign_pauses_itself_when_its_failure_budget_is_spent_and_resumes_to_the_end()
    {
        var (group, hosts, flag) = await HostsAsync(3);
        await VmAsync(hosts[2], flag);
        // Hosts go fewest-VMs first, then by id: the first one fails its health check after the upgrade.
        var first = hosts.Take(2).Order(StringComparer.Ordinal).First();
        Maintenance.BreakOnUpgrade(first, "BMC reports a failed DIMM");

        var campaign = await WaitAsync(await Client.StartCampaignAsync(new CampaignSpec("3.1.0", "group", group, FailureBudget: 1)), stopWhenPaused: true);

        Assert.Equal(CampaignState.Paused, campaign.State);
        Assert.Contains("failure budget", campaign.Note);
        var failed = Assert.Single(campaign.Hosts, h => h.State == CampaignHostState.Failed);
        Assert.Equal(first, failed.HostId);
        Assert.Contains("failed DIMM", failed.Reason);
        Assert.Equal(HostHealth.Degraded, (await Client.GetHostAsync(first)).Health);
        Assert.Equal(2, campaign.Hosts.Count(h => h.State == CampaignHostState.Waiting));
        await Task.Delay(1500); // a fixed delay on purpose: time passes and the paused campaign must start no host
        Assert.Equal(2, (await Client.GetCampaignAsync(campaign.CampaignId)).Hosts.Count(h => h.State == CampaignHostState.Waiting));

        await Client.ResumeCampaignAsync(campaign.CampaignId);
        campaign = await WaitAsync(await Client.GetCampaignAsync(campaign.CampaignId));

        Assert.Equal(CampaignState.Completed, campaign.State);
        Assert.Equal(2, campaign.HostsUpgraded);
        Assert.Equal(1, campaign.HostsFailed);
        Assert.Equal("1.0.0", (await Client.GetHostAsync(first)).Spec.FirmwareVersion);
    }

    [Fact]
    public async Task A_cancelled_campaign_aborts_the_drain_in_progress_puts_that_host_back_and_skips_the_rest()
    {
        var (group, hosts, flag) = await HostsAsync(3);
        foreach (var host in hosts)
        {
            await VmAsync(host, flag);
            await VmAsync(host, flag);
        }

        fixture.Faults.Delay(FaultSteps.DiskOpenReadOnly, TimeSpan.FromMilliseconds(800));
        var started = await Client.StartCampaignAsync(new CampaignSpec("2.0.0", "group", group, MaxParallelMigrations: 1));
        Assert.Equal(CampaignHostState.Draining, started.Hosts[0].State);

        await Client.CancelCampaignAsync(started.CampaignId, "incident declared");
        var campaign = await WaitAsync(await Client.GetCampaignAsync(started.CampaignId));

        Assert.Equal(CampaignState.Cancelled, campaign.State);
        Assert.Contains("incident declared", campaign.Note);
        Assert.All(campaign.Hosts.Skip(1), h => Assert.Equal(CampaignHostState.Skipped, h.State));
        foreach (var host in hosts)
        {
            var record = await Client.GetHostAsync(host);
            Assert.Equal(SchedulingState.Schedulable, record.Scheduling);
            Assert.Equal("1.0.0", record.Spec.FirmwareVersion);
        }

        Assert.Empty(await Client.ListMigrationsAsync(includeEnded: false));
        Assert.True((await FleetAuditor.AuditAsync(Client)).Clean);
    }

    [Fact]
    public async Task A_host_joins_the_batch_only_once_upgraded_hosts_have_room_for_its_VMs_so_each_VM_moves_once()
    {
        // No host anywhere runs 9.2.0: the first host starts alone (its VM has nowhere upgraded to go); once it is back,
        // upgraded and empty, it has room for the other hosts' VMs and they start together.
        var (group, hosts, flag) = await HostsAsync(3);
        var vms = new List<VmSpec>();
        foreach (var host in hosts)
        {
            vms.Add(await VmAsync(host, flag));
        }

        var started = await Client.StartCampaignAsync(new CampaignSpec("9.2.0", "group", group, Batch: 3, MaxParallelMigrations: 6));
        Assert.Equal(1, started.Hosts.Count(h => h.State != CampaignHostState.Waiting));

        var campaign = await WaitAsync(started);

        Assert.Equal(CampaignState.Completed, campaign.State);
        Assert.Equal(3, campaign.HostsUpgraded);
        // The first host's VM moved twice (to a host not yet upgraded, then on); the other two once, onto the first host.
        Assert.Equal(vms.Count + 1, campaign.VmsMoved);
        var first = campaign.Hosts.Single(h => h.HostId == started.Hosts.Single(x => x.State != CampaignHostState.Waiting).HostId);
        foreach (var vm in vms)
        {
            var record = await Client.GetVmAsync(vm.VmId);
            Assert.Equal(PowerState.Running, record.Power);
            Assert.Equal("9.2.0", (await Client.GetHostAsync(record.HostId)).Spec.FirmwareVersion);
        }

        Assert.True(campaign.Hosts.Where(h => h.HostId != first.HostId).All(h => h.StartedAt >= first.EndedAt), "a later host started before the first was back upgraded");
        Assert.True((await FleetAuditor.AuditAsync(Client)).Clean);
    }

    [Fact]
    public async Task With_double_moves_allowed_the_whole_batch_starts_at_once()
    {
        var (group, hosts, flag) = await HostsAsync(3);
        foreach (var host in hosts)
        {
            await VmAsync(host, flag);
        }

        var started = await Client.StartCampaignAsync(new CampaignSpec("9.3.0", "group", group, Batch: 2, MaxParallelMigrations: 4, AllowDoubleMoves: true));
        Assert.Equal(2, started.Hosts.Count(h => h.State == CampaignHostState.Draining));

        var cancelled = await WaitAsync(await Client.CancelCampaignAsync(started.CampaignId, "test over"));
        Assert.Equal(CampaignState.Cancelled, cancelled.State);
        foreach (var host in hosts)
        {
            Assert.Equal(SchedulingState.Schedulable, (await Client.GetHostAsync(host)).Scheduling);
        }

        Assert.True((await FleetAuditor.AuditAsync(Client)).Clean);
    }

    [Fact]
    public async Task Bad_campaign_input_is_refused_naming_the_field()
    {
        async Task<OmigException> Refused(CampaignSpec spec) => await Assert.ThrowsAsync<OmigException>(() => Client.StartCampaignAsync(spec));

        Assert.Equal("firmware", (await Refused(new CampaignSpec("v2"))).Field);
        Assert.Equal("batch", (await Refused(new CampaignSpec("2.0.0", Batch: 0))).Field);
        Assert.Equal("failure-budget", (await Refused(new CampaignSpec("2.0.0", FailureBudget: 0))).Field);
        Assert.Equal("select", (await Refused(new CampaignSpec("2.0.0", SelectorKey: "rack"))).Field);
        Assert.Equal(OmigErrorCode.NotFound, (await Assert.ThrowsAsync<OmigException>(() => Client.GetCampaignAsync("camp-none"))).Code);
    }

    private async Task<(string Group, string[] Hosts, string Flag)> HostsAsync(int count)
    {
        var group = "g" + Guid.NewGuid().ToString("N")[..8];
        var flag = "cmp_" + group;
        var ids = Enumerable.Range(0, count).Select(_ => TestFleet.Unique("ch")).ToArray();
        foreach (var id in ids)
        {
            var spec = TestFleet.Host(id, cores: 64, memoryMiB: 256 * 1024, features: ["avx", flag]);
            await Client.AddHostAsync(spec with { Labels = spec.Labels.Add("group", group) });
        }

        return (group, ids, flag);
    }

    private async Task<VmSpec> VmAsync(string host, string flag, string? policy = null)
    {
        var id = TestFleet.Unique("cv");
        var labels = ImmutableDictionary<string, string>.Empty.Add("sim.dirty-mbps", "5");
        var spec = TestFleet.Vm(id, vcpus: 2, memoryMiB: 4096, features: [flag], ip: TestFleet.RandomIp()) with
        {
            Labels = policy is null ? labels : labels.Add(OrleansMigrate.Grains.Migration.MigrationPolicyOptions.PolicyLabel, policy),
        };
        await Client.CreateVmAsync(spec, host);
        return spec;
    }

    private async Task<CampaignStatus> WaitAsync(CampaignStatus campaign, bool stopWhenPaused = false)
    {
        var last = campaign;
        try
        {
            return await Eventually.UntilAsync(async () => last = await Client.GetCampaignAsync(campaign.CampaignId),
                c => c.IsEnded || (stopWhenPaused && c.State == CampaignState.Paused), Limit,
                $"campaign {campaign.CampaignId} ends{(stopWhenPaused ? " or pauses" : "")}", TimeSpan.FromMilliseconds(100));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"campaign did not end: {string.Join(", ", last.Hosts.Select(h => $"{h.HostId} {h.State} {h.Reason}"))}", ex);
        }
    }
}
