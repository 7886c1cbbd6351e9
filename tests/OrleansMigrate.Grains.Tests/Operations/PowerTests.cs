using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Operations;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;
using OrleansMigrate.Tests.Migration;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Operations;

/// <summary>Power management through the grains with the simulated power backend. Each test puts its hosts in a failure
/// domain (rack) of its own and its VMs require a CPU flag of its own, so plans, drains and power-ons touch only them.</summary>
[Collection(OperationsCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class PowerTests(MigrationClusterFixture fixture)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    private OmigClient Client => fixture.Client;

    private SimulatedPowerBackend Backend => (SimulatedPowerBackend)fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<IPowerBackend>();

    [Fact]
    public async Task Applying_a_plan_drains_its_hosts_inside_their_domain_and_powers_them_off_with_every_VM_kept()
    {
        var (rack, flag) = Ids();
        var hosts = await AddHostsAsync(rack, flag, 4);
        var vms = new List<string>();
        foreach (var h in hosts)
        {
            vms.Add((await Client.CreateVmAsync(Vm(flag), h)).VmId);
        }

        var plan = await Client.PlanPowerAsync(20, rack);

        // 8 of 128 cores used: 20 % free needs 10 cores on, so three of the four 32-core hosts can go.
        Assert.Equal((3, 3, PowerPlanState.Planned), (plan.HostsFreed, plan.Bound, plan.State));
        Assert.Equal(PowerPlanState.Applying, (await Client.ApplyPowerPlanAsync()).State);
        var applied = await WaitAsync();

        Assert.Equal(PowerPlanState.Completed, applied.State);
        var records = await Task.WhenAll(hosts.Select(Client.GetHostAsync));
        var on = Assert.Single(records, r => r.Power == HostPowerState.On);
        Assert.Equal(4, on.Vms.Count);
        Assert.All(records.Where(r => r.Power == HostPowerState.Off), r =>
        {
            Assert.Empty(r.Vms);
            Assert.Equal(SchedulingState.Schedulable, r.Scheduling);
            Assert.False(Backend.IsOn(r.HostId));
        });
        Assert.All(await Task.WhenAll(vms.Select(Client.GetVmAsync)), v => Assert.Equal((PowerState.Running, on.HostId), (v.Power, v.HostId)));
        var domain = (await Client.GetPowerAsync()).Domains.Single(d => d.Domain == rack);
        Assert.True(domain.Keeps(20));
        Assert.True((await FleetAuditor.AuditAsync(Client)).Clean);
        await PowerOnAsync(hosts);
    }

    [Fact]
    public async Task A_powered_off_host_takes_no_create_and_no_migration_and_a_drain_that_needs_it_powers_it_on()
    {
        var (rack, flag) = Ids();
        var (a, b) = (await AddHostsAsync(rack, flag, 2)) is var h ? (h[0], h[1]) : default;
        var vm = await Client.CreateVmAsync(Vm(flag), a);

        var off = await Client.SetHostPowerAsync(b, HostPowerState.Off);

        Assert.Equal(HostPowerState.Off, off.Power);
        Assert.False(Backend.IsOn(b));
        var create = await Assert.ThrowsAsync<OmigException>(() => Client.CreateVmAsync(Vm(flag), b));
        Assert.Contains("powered off", create.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<OmigException>(() => Client.MigrateAsync(new MigrationRequest(vm.VmId, b)));
        Assert.Equal(a, (await Client.GetVmAsync(vm.VmId)).HostId);

        // The drain of a finds no powered-on host for the VM (only b has the flag): the power manager powers b on.
        await Client.DrainHostAsync(a, new DrainOptions(Preflight: false));
        var drained = await Eventually.UntilAsync(() => Client.GetDrainAsync(a), d => d.IsEnded, Limit, $"drain of {a} ends", TimeSpan.FromMilliseconds(100));

        Assert.Equal(DrainState.Completed, drained.State);
        Assert.Equal(HostPowerState.On, (await Client.GetHostAsync(b)).Power);
        Assert.True(Backend.IsOn(b));
        Assert.Equal(b, (await Client.GetVmAsync(vm.VmId)).HostId);
        Assert.Contains((await Client.GetPowerAsync()).Events, e => e.HostId == b && e.Power == HostPowerState.On && e.Reason.Contains(vm.VmId, StringComparison.Ordinal));
        Assert.True((await FleetAuditor.AuditAsync(Client)).Clean);
    }

    [Fact]
    public async Task Host_power_refuses_a_host_with_VMs_an_unknown_host_and_a_power_off_under_the_headroom_changing_nothing()
    {
        var (rack, flag) = Ids();
        var hosts = await AddHostsAsync(rack, flag, 2);
        await Client.CreateVmAsync(Vm(flag, vcpus: 28), hosts[0]);

        var withVms = await Assert.ThrowsAsync<OmigException>(() => Client.SetHostPowerAsync(hosts[0], HostPowerState.Off));
        var unknown = await Assert.ThrowsAsync<OmigException>(() => Client.SetHostPowerAsync("no-such-host-" + flag[4..], HostPowerState.Off));

        // 28 of 64 cores used; with the second host off 4 of 32 would be free: 12.5 %, under 20 %.
        var headroom = await Assert.ThrowsAsync<OmigException>(() => Client.SetHostPowerAsync(hosts[1], HostPowerState.Off));

        Assert.Equal((OmigErrorCode.Conflict, "host"), (withVms.Code, withVms.Field));
        Assert.Contains("drain it", withVms.Message, StringComparison.Ordinal);
        Assert.Equal(OmigErrorCode.NotFound, unknown.Code);
        Assert.Equal((OmigErrorCode.Conflict, "headroom"), (headroom.Code, headroom.Field));
        Assert.Contains("under the 20 % headroom", headroom.Message, StringComparison.Ordinal);
        Assert.All(await Task.WhenAll(hosts.Select(Client.GetHostAsync)), r => Assert.Equal((HostPowerState.On, SchedulingState.Schedulable), (r.Power, r.Scheduling)));
        Assert.Null(Backend.IsOn(hosts[1]));
    }

    [Fact]
    public async Task When_a_domain_drops_under_the_headroom_the_cheapest_powered_off_host_that_restores_it_is_powered_on()
    {
        var (rack, flag) = Ids();
        var a = (await AddHostsAsync(rack, flag, 1, cores: 32))[0];
        var small = (await AddHostsAsync(rack, flag, 1, cores: 16))[0];
        var large = (await AddHostsAsync(rack, flag, 1, cores: 64))[0];
        await Client.SetHostPowerAsync(small, HostPowerState.Off);
        await Client.SetHostPowerAsync(large, HostPowerState.Off);

        // 26 of 32 cores used: 18.75 % free. With the 16-core host on, 46 % — the cheapest that restores 20 %.
        await Client.CreateVmAsync(Vm(flag, vcpus: 26), a);
        await Eventually.TrueAsync(async () => (await Client.GetHostAsync(small)).Power == HostPowerState.On, Limit, $"{small} powered on");

        Assert.Equal(HostPowerState.Off, (await Client.GetHostAsync(large)).Power);
        Assert.True((await Client.GetPowerAsync()).Domains.Single(d => d.Domain == rack).Keeps(20));
        Assert.Contains((await Client.GetPowerAsync()).Events, e => e.HostId == small && e.Reason.Contains("under the 20 % headroom", StringComparison.Ordinal));
        await PowerOnAsync([large]);
    }

    [Fact]
    public async Task Ensure_room_powers_on_the_cheapest_host_that_fits_only_when_no_powered_on_host_has_room()
    {
        var (rack, flag) = Ids();
        var a = (await AddHostsAsync(rack, flag, 1, cores: 16))[0];
        var mid = (await AddHostsAsync(rack, flag, 1, cores: 32))[0];
        var big = (await AddHostsAsync(rack, flag, 1, cores: 64))[0];
        await Client.SetHostPowerAsync(mid, HostPowerState.Off);
        await Client.SetHostPowerAsync(big, HostPowerState.Off);

        Assert.Null(await Client.EnsureRoomAsync(8, 4096, [flag], rack));
        var powered = await Client.EnsureRoomAsync(24, 4096, [flag], rack);
        var none = await Assert.ThrowsAsync<OmigException>(() => Client.EnsureRoomAsync(128, 4096, [flag], rack));

        Assert.Equal(mid, powered);
        Assert.Equal(HostPowerState.On, (await Client.GetHostAsync(mid)).Power);
        Assert.Equal(HostPowerState.Off, (await Client.GetHostAsync(big)).Power);
        Assert.Equal(OmigErrorCode.InsufficientCapacity, none.Code);
        await Client.CreateVmAsync(Vm(flag, vcpus: 24), mid);
        await PowerOnAsync([big]);
    }

    [Fact]
    public async Task A_campaign_skips_powered_off_hosts_and_upgrades_the_others()
    {
        var (rack, flag) = Ids();
        var hosts = await AddHostsAsync(rack, flag, 2);
        await Client.SetHostPowerAsync(hosts[1], HostPowerState.Off);

        var started = await Client.StartCampaignAsync(new CampaignSpec("9.0.0", "rack", rack, Batch: 1));
        var done = await Eventually.UntilAsync(() => Client.GetCampaignAsync(started.CampaignId), c => c.IsEnded, Limit, "campaign ends", TimeSpan.FromMilliseconds(100));

        Assert.Equal(CampaignState.Completed, done.State);
        Assert.Equal(CampaignHostState.Done, done.Hosts.Single(h => h.HostId == hosts[0]).State);
        var skipped = done.Hosts.Single(h => h.HostId == hosts[1]);
        Assert.Equal(CampaignHostState.Skipped, skipped.State);
        Assert.Contains("powered off", skipped.Reason, StringComparison.Ordinal);
        Assert.Equal("9.0.0", (await Client.GetHostAsync(hosts[0])).Spec.FirmwareVersion);
        Assert.Equal("1.0.0", (await Client.GetHostAsync(hosts[1])).Spec.FirmwareVersion);
        await PowerOnAsync(hosts);
    }

    [Fact]
    public async Task Apply_is_refused_with_nothing_changed_when_the_fleet_changed_so_that_the_plan_would_break_the_headroom()
    {
        var (rack, flag) = Ids();
        var hosts = await AddHostsAsync(rack, flag, 2);
        await Client.CreateVmAsync(Vm(flag), hosts[0]);
        var plan = await Client.PlanPowerAsync(20, rack);
        Assert.Equal(1, plan.HostsFreed);

        // Now 26 of 64 cores are used: one host off would leave 6 of 32 free (18.75 %).
        await Client.CreateVmAsync(Vm(flag, vcpus: 24), hosts[0]);
        var ex = await Assert.ThrowsAsync<OmigException>(Client.ApplyPowerPlanAsync);

        Assert.Equal((OmigErrorCode.Conflict, "headroom"), (ex.Code, ex.Field));
        Assert.Equal(PowerPlanState.Planned, (await Client.GetPowerAsync()).Plan!.State);
        Assert.All(await Task.WhenAll(hosts.Select(Client.GetHostAsync)), r => Assert.Equal((HostPowerState.On, SchedulingState.Schedulable), (r.Power, r.Scheduling)));
        Assert.Equal("headroom", (await Assert.ThrowsAsync<OmigException>(() => Client.PlanPowerAsync(95, rack))).Field);
    }

    private static (string Rack, string Flag) Ids()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        return ("pw-" + id, "pwr_" + id);
    }

    private async Task<string[]> AddHostsAsync(string rack, string flag, int count, int cores = 32)
    {
        var ids = Enumerable.Range(0, count).Select(_ => TestFleet.Unique("pwh")).ToArray();
        foreach (var h in ids)
        {
            await Client.AddHostAsync(TestFleet.Host(h, cores: cores, memoryMiB: 256 * 1024, features: ["avx", flag]) with
            {
                Labels = ImmutableDictionary<string, string>.Empty.Add("rack", rack),
            });
        }

        return ids;
    }

    private static VmSpec Vm(string flag, int vcpus = 2) =>
        TestFleet.Vm(TestFleet.Unique("pwv"), vcpus: vcpus, memoryMiB: 1024, features: [flag], ip: TestFleet.RandomIp()) with
        {
            Labels = ImmutableDictionary<string, string>.Empty.Add("sim.dirty-mbps", "2"),
        };

    private async Task<PowerPlanStatus> WaitAsync()
    {
        PowerPlanStatus? last = null;
        try
        {
            return await Eventually.UntilAsync(async () => last = (await Client.GetPowerAsync()).Plan!, p => p.IsEnded, Limit, "power plan ends", TimeSpan.FromMilliseconds(100));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"power plan did not end: {string.Join(", ", last?.Hosts.Select(h => $"{h.HostId} {h.State} {h.Reason}") ?? [])}", ex);
        }
    }

    /// <summary>Leaves no host of the test off, so the power manager's watch has nothing to do for later tests.</summary>
    private async Task PowerOnAsync(IEnumerable<string> hosts)
    {
        foreach (var h in hosts)
        {
            await Client.SetHostPowerAsync(h, HostPowerState.On);
        }
    }
}
