using OrleansMigrate.Tests.Shared;
using System.Diagnostics;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Faults;

namespace OrleansMigrate.Tests.Cloud;

[Collection(CloudCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class VpcFlowTableGrainTests(CloudClusterFixture fixture)
{
    private const string Src = "h-src";
    private const string Dst = "h-dst";
    private const string Ip = "10.0.0.11";
    private const string Vm = "vm-1";
    private const string Owner = "mig-1";

    [Fact]
    public async Task A_staged_relay_is_ignored_until_enabled_then_resolve_follows_it_until_disabled_and_removed()
    {
        var (vpc, id) = await NewVpcWithFlowAsync();

        await vpc.StageRelayAsync(Ip, Src, Dst, Owner);
        Assert.Equal(new RelayRoute(Ip, Src, Dst, false, Owner), Assert.Single((await vpc.GetAsync()).Relays));
        Assert.Equal(Src, await vpc.ResolveAsync(Ip));
        await AssertControllerMatchesAsync(vpc);

        await vpc.SetRelayEnabledAsync(Ip, Owner, true);
        Assert.Equal(Dst, await vpc.ResolveAsync(Ip));
        await AssertControllerMatchesAsync(vpc);

        await vpc.SetRelayEnabledAsync(Ip, Owner, false);
        Assert.Equal(Src, await vpc.ResolveAsync(Ip));
        await AssertControllerMatchesAsync(vpc);

        await vpc.RemoveRelayAsync(Ip, Owner);
        Assert.Empty((await vpc.GetAsync()).Relays);
        Assert.Empty(fixture.NetworkManager.Inspect(id).Relays);
        Assert.Equal(Src, await vpc.ResolveAsync(Ip));
    }

    [Fact]
    public async Task A_repoint_moves_the_flow_so_resolve_reaches_the_destination_directly_once_the_relay_is_removed()
    {
        var (vpc, id) = await NewVpcWithFlowAsync();
        await vpc.StageRelayAsync(Ip, Src, Dst, Owner);
        await vpc.SetRelayEnabledAsync(Ip, Owner, true);

        await vpc.RepointFlowAsync(Ip, Vm, Dst);

        Assert.Equal(Dst, (await vpc.GetAsync()).Flows[Ip].HostId);
        Assert.Equal(Dst, fixture.NetworkManager.Inspect(id).FlowHosts[Ip]);
        Assert.Equal(Dst, await vpc.ResolveAsync(Ip));
        await vpc.RemoveRelayAsync(Ip, Owner);
        Assert.Equal(Dst, await vpc.ResolveAsync(Ip));
        await AssertControllerMatchesAsync(vpc);
    }

    [Fact]
    public async Task Every_relay_and_repoint_step_replayed_after_a_restart_changes_nothing_and_reaches_no_backend()
    {
        var (vpc, _) = await NewVpcWithFlowAsync();
        var steps = new (string Step, Func<Task> Run)[]
        {
            (FaultSteps.VpcStageRelay, () => vpc.StageRelayAsync(Ip, Src, Dst, Owner)),
            (FaultSteps.VpcEnableRelay, () => vpc.SetRelayEnabledAsync(Ip, Owner, true)),
            (FaultSteps.VpcRepointFlow, () => vpc.RepointFlowAsync(Ip, Vm, Dst)),
            (FaultSteps.VpcDisableRelay, () => vpc.SetRelayEnabledAsync(Ip, Owner, false)),
            (FaultSteps.VpcRemoveRelay, () => vpc.RemoveRelayAsync(Ip, Owner)),
        };

        foreach (var (step, run) in steps)
        {
            await run();
            var done = await vpc.GetAsync();
            var seen = fixture.Seen(step);
            await fixture.Cluster.DeactivateAsync(vpc);

            await run();

            AssertSameTable(done, await vpc.GetAsync());
            Assert.Equal(seen, fixture.Seen(step));
        }
    }

    [Fact]
    public async Task A_relay_of_another_owner_for_the_same_IP_is_refused_and_its_tear_down_by_another_owner_changes_nothing()
    {
        var (vpc, _) = await NewVpcWithFlowAsync();
        await vpc.StageRelayAsync(Ip, Src, Dst, Owner);
        var before = await vpc.GetAsync();

        var stage = await Assert.ThrowsAsync<OmigException>(() => vpc.StageRelayAsync(Ip, Src, "h-third", "mig-2"));
        var enable = await Assert.ThrowsAsync<OmigException>(() => vpc.SetRelayEnabledAsync(Ip, "mig-2", true));
        await vpc.SetRelayEnabledAsync(Ip, "mig-2", false);
        await vpc.RemoveRelayAsync(Ip, "mig-2");

        Assert.All(new[] { stage, enable }, e => Assert.Equal((OmigErrorCode.Conflict, "ip"), (e.Code, e.Field)));
        Assert.Contains(Owner, stage.Reason, StringComparison.Ordinal);
        AssertSameTable(before, await vpc.GetAsync());
        await AssertControllerMatchesAsync(vpc);
    }

    [Fact]
    public async Task Relay_and_repoint_requests_that_do_not_fit_the_table_are_refused_naming_the_field()
    {
        var (vpc, _) = await NewVpcWithFlowAsync();
        var before = await vpc.GetAsync();

        var noFlow = await Assert.ThrowsAsync<OmigException>(() => vpc.StageRelayAsync("10.0.0.99", Src, Dst, Owner));
        var sameHost = await Assert.ThrowsAsync<OmigException>(() => vpc.StageRelayAsync(Ip, Src, Src, Owner));
        var badIp = await Assert.ThrowsAsync<OmigException>(() => vpc.StageRelayAsync("10.0.0", Src, Dst, Owner));
        var noRelay = await Assert.ThrowsAsync<OmigException>(() => vpc.SetRelayEnabledAsync(Ip, Owner, true));
        var notOwner = await Assert.ThrowsAsync<OmigException>(() => vpc.RepointFlowAsync(Ip, "vm-other", Dst));
        var unknownIp = await Assert.ThrowsAsync<OmigException>(() => vpc.RepointFlowAsync("10.0.0.99", Vm, Dst));

        Assert.Equal((OmigErrorCode.NotFound, "ip"), (noFlow.Code, noFlow.Field));
        Assert.Equal((OmigErrorCode.InvalidArgument, "to_host"), (sameHost.Code, sameHost.Field));
        Assert.Equal((OmigErrorCode.InvalidArgument, "ip"), (badIp.Code, badIp.Field));
        Assert.Equal((OmigErrorCode.NotFound, "ip"), (noRelay.Code, noRelay.Field));
        Assert.Equal((OmigErrorCode.Conflict, "ip"), (notOwner.Code, notOwner.Field));
        Assert.Equal((OmigErrorCode.NotFound, "ip"), (unknownIp.Code, unknownIp.Field));
        AssertSameTable(before, await vpc.GetAsync());
    }

    [Theory]
    [InlineData(FaultSteps.VpcStageRelay)]
    [InlineData(FaultSteps.VpcEnableRelay)]
    [InlineData(FaultSteps.VpcDisableRelay)]
    [InlineData(FaultSteps.VpcRemoveRelay)]
    [InlineData(FaultSteps.VpcRepointFlow)]
    public async Task A_fault_at_a_VPC_step_surfaces_leaves_table_and_controller_as_they_were_and_a_retry_succeeds(string step)
    {
        var (vpc, id) = await NewVpcWithFlowAsync();
        if (step != FaultSteps.VpcStageRelay)
        {
            await vpc.StageRelayAsync(Ip, Src, Dst, Owner);
        }

        if (step == FaultSteps.VpcDisableRelay)
        {
            await vpc.SetRelayEnabledAsync(Ip, Owner, true);
        }

        Func<Task> run = step switch
        {
            FaultSteps.VpcStageRelay => () => vpc.StageRelayAsync(Ip, Src, Dst, Owner),
            FaultSteps.VpcEnableRelay => () => vpc.SetRelayEnabledAsync(Ip, Owner, true),
            FaultSteps.VpcDisableRelay => () => vpc.SetRelayEnabledAsync(Ip, Owner, false),
            FaultSteps.VpcRemoveRelay => () => vpc.RemoveRelayAsync(Ip, Owner),
            _ => () => vpc.RepointFlowAsync(Ip, Vm, Dst),
        };
        var before = await vpc.GetAsync();
        var controllerBefore = fixture.NetworkManager.Inspect(id);
        fixture.Faults.FailNext(step);
        try
        {
            var fault = await Assert.ThrowsAsync<InjectedFaultException>(run);
            Assert.Equal(step, fault.Step);
        }
        finally
        {
            fixture.Faults.Clear();
        }

        AssertSameTable(before, await vpc.GetAsync());
        var controllerAfter = fixture.NetworkManager.Inspect(id);
        Assert.Equal(controllerBefore.FlowHosts, controllerAfter.FlowHosts);
        Assert.Equal(controllerBefore.Relays, controllerAfter.Relays);

        await run();
        await AssertControllerMatchesAsync(vpc);
    }

    [Fact]
    public async Task A_relay_enable_is_not_delayed_by_another_VMs_slow_repoint_in_the_same_VPC()
    {
        var (vpc, _) = await NewVpcWithFlowAsync();
        const string otherIp = "10.0.0.12";
        await vpc.AddFlowAsync(new FlowEntry(otherIp, TestFleet.RandomMac(), "vm-2", Src));
        await vpc.StageRelayAsync(otherIp, Src, Dst, Owner);
        var installs = fixture.Seen(FaultSteps.VpcRepointFlow);
        var (perFlowMs, flows) = (fixture.Options.FlowInstallMsPerFlow, fixture.Options.FlowsPerNic);
        fixture.Options.FlowInstallMsPerFlow = 60;
        fixture.Options.FlowsPerNic = 30;
        try
        {
            var repoint = vpc.RepointFlowAsync(Ip, Vm, Dst);
            await WaitUntilAsync(() => fixture.Seen(FaultSteps.VpcRepointFlow) > installs);

            var clock = Stopwatch.StartNew();
            await vpc.SetRelayEnabledAsync(otherIp, Owner, true);
            var resolved = await vpc.ResolveAsync(otherIp);
            clock.Stop();

            Assert.False(repoint.IsCompleted, $"the 1.8 s repoint ended before the relay enable ({clock.ElapsedMilliseconds} ms) returned");
            Assert.Equal(Dst, resolved);
            Assert.Equal(Src, await vpc.ResolveAsync(Ip));
            await repoint;
        }
        finally
        {
            (fixture.Options.FlowInstallMsPerFlow, fixture.Options.FlowsPerNic) = (perFlowMs, flows);
        }

        var table = await vpc.GetAsync();
        Assert.Equal(Dst, table.Flows[Ip].HostId);
        Assert.True(Assert.Single(table.Relays).Enabled);
        await AssertControllerMatchesAsync(vpc);
    }

    [Fact]
    public async Task Concurrent_repoints_and_relay_switches_on_one_VPC_all_land_and_persist()
    {
        var vpcId = TestFleet.Unique("vpc");
        var vpc = fixture.Grains.GetGrain<IVpcFlowTableGrain>(vpcId);
        var repointed = Enumerable.Range(1, 4).Select(i => $"10.0.1.{i}").ToArray();
        var relayed = Enumerable.Range(1, 4).Select(i => $"10.0.2.{i}").ToArray();
        foreach (var ip in repointed.Concat(relayed))
        {
            await vpc.AddFlowAsync(new FlowEntry(ip, TestFleet.RandomMac(), $"vm-{ip.Replace('.', '-')}", Src));
        }

        foreach (var ip in relayed)
        {
            await vpc.StageRelayAsync(ip, Src, Dst, $"mig-{ip}");
        }

        await Task.WhenAll(
            repointed.Select(ip => vpc.RepointFlowAsync(ip, $"vm-{ip.Replace('.', '-')}", Dst))
                .Concat(relayed.Select(ip => vpc.SetRelayEnabledAsync(ip, $"mig-{ip}", true))));
        await fixture.Cluster.DeactivateAsync(vpc);

        var table = await vpc.GetAsync();
        Assert.All(repointed, ip => Assert.Equal(Dst, table.Flows[ip].HostId));
        Assert.All(relayed, ip => Assert.Equal(Src, table.Flows[ip].HostId));
        Assert.Equal(relayed.Length, table.Relays.Count(r => r.Enabled));
        foreach (var ip in repointed.Concat(relayed))
        {
            Assert.Equal(Dst, await vpc.ResolveAsync(ip));
        }

        await AssertControllerMatchesAsync(vpc);
    }

    [Fact]
    public async Task A_replayed_repoint_joins_the_install_in_flight_and_a_repoint_elsewhere_meanwhile_is_refused()
    {
        var (vpc, _) = await NewVpcWithFlowAsync();
        var installs = fixture.Seen(FaultSteps.VpcRepointFlow);
        var perFlowMs = fixture.Options.FlowInstallMsPerFlow;
        fixture.Options.FlowInstallMsPerFlow = 100;
        try
        {
            var first = vpc.RepointFlowAsync(Ip, Vm, Dst);
            await WaitUntilAsync(() => fixture.Seen(FaultSteps.VpcRepointFlow) > installs);

            var replay = vpc.RepointFlowAsync(Ip, Vm, Dst);
            var elsewhere = await Assert.ThrowsAsync<OmigException>(() => vpc.RepointFlowAsync(Ip, Vm, "h-third"));
            await Task.WhenAll(first, replay);

            Assert.Equal((OmigErrorCode.Conflict, "ip"), (elsewhere.Code, elsewhere.Field));
        }
        finally
        {
            fixture.Options.FlowInstallMsPerFlow = perFlowMs;
        }

        Assert.Equal(installs + 1, fixture.Seen(FaultSteps.VpcRepointFlow));
        Assert.Equal(Dst, (await vpc.GetAsync()).Flows[Ip].HostId);
    }

    private async Task<(IVpcFlowTableGrain Vpc, string VpcId)> NewVpcWithFlowAsync()
    {
        var id = TestFleet.Unique("vpc");
        var vpc = fixture.Grains.GetGrain<IVpcFlowTableGrain>(id);
        await vpc.AddFlowAsync(new FlowEntry(Ip, TestFleet.RandomMac(), Vm, Src));
        return (vpc, id);
    }

    /// <summary>The controller holds the table's relays, and every flow it installed points where the table says.</summary>
    private async Task AssertControllerMatchesAsync(IVpcFlowTableGrain vpc)
    {
        var table = await vpc.GetAsync();
        var controller = fixture.NetworkManager.Inspect(table.VpcId);
        Assert.Equal(
            table.Relays.Select(r => (r.Ip, new NetworkManagerRelay(r.FromHost, r.ToHost, r.Enabled))).OrderBy(r => r.Ip, StringComparer.Ordinal),
            controller.Relays.Select(r => (r.Key, r.Value)).OrderBy(r => r.Key, StringComparer.Ordinal));
        Assert.All(controller.FlowHosts, f => Assert.Equal(f.Value, table.Flows[f.Key].HostId));
    }

    private static void AssertSameTable(VpcFlowTable expected, VpcFlowTable actual)
    {
        Assert.Equal(expected.Flows.OrderBy(f => f.Key, StringComparer.Ordinal), actual.Flows.OrderBy(f => f.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Relays.OrderBy(r => r.Ip, StringComparer.Ordinal), actual.Relays.OrderBy(r => r.Ip, StringComparer.Ordinal));
    }

    private static Task WaitUntilAsync(Func<bool> condition) =>
        Eventually.TrueAsync(condition, TimeSpan.FromSeconds(10), "the condition", TimeSpan.FromMilliseconds(5));
}
