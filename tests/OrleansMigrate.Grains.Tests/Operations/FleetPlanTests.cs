using System.Collections.Immutable;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Operations;
using OrleansMigrate.Tests.Migration;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Operations;

/// <summary>Defragmentation and rebalancing plans applied through the grains. The test hosts and VMs carry a CPU flag of
/// their own, so plans can only move this test's VMs onto this test's hosts; shapes are larger than any other host.</summary>
[Collection(OperationsCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class FleetPlanTests(MigrationClusterFixture fixture)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    private OmigClient Client => fixture.Client;

    [Fact]
    public async Task After_a_defrag_plan_is_applied_the_requested_shape_fits_and_no_rule_is_broken()
    {
        var flag = "dfg_" + Guid.NewGuid().ToString("N")[..8];
        var hosts = Enumerable.Range(0, 3).Select(_ => TestFleet.Unique("dfh")).ToArray();
        foreach (var h in hosts)
        {
            await Client.AddHostAsync(TestFleet.Host(h, cores: 512, memoryMiB: 2048 * 1024, features: ["avx", flag]));
            await Client.CreateVmAsync(Vm(flag, vcpus: 160, memoryMiB: 512 * 1024), h);
        }

        // 400 vCPUs / 1.5 TiB with this test's flag fits on no host now (each has 352 cores free).
        var plan = await Client.PlanDefragAsync(400, 1536 * 1024, 1, [flag]);

        Assert.True(plan.Reached, string.Join("; ", plan.Notes));
        Assert.Single(plan.Moves);
        Assert.Equal(1, plan.LowerBound);
        Assert.Equal(FleetPlanState.Planned, plan.State);

        var applied = await WaitAsync(await Client.ApplyPlanAsync(plan.PlanId, 2));

        Assert.Equal(FleetPlanState.Completed, applied.State);
        var records = await Task.WhenAll(hosts.Select(Client.GetHostAsync));
        Assert.Contains(records, r => r.FreeVcpus >= 400 && r.FreeMemoryMiB >= 1536 * 1024);
        Assert.All(records, r => Assert.Empty(r.Reservations));
        Assert.True((await FleetAuditor.AuditAsync(Client)).Clean);
        Assert.Equal("shape.vcpus", (await Assert.ThrowsAsync<OmigException>(() => Client.PlanDefragAsync(0, 1024, 1, [flag]))).Field);
    }

    [Fact]
    public async Task The_balancer_brings_a_hot_host_under_the_threshold_and_its_cool_down_keeps_moved_VMs_from_moving_back()
    {
        var flag = "bal_" + Guid.NewGuid().ToString("N")[..8];
        var (hot, cold) = (TestFleet.Unique("bh"), TestFleet.Unique("bh"));
        await Client.AddHostAsync(TestFleet.Host(hot, cores: 1024, memoryMiB: 4096 * 1024, features: ["avx", flag]));
        await Client.AddHostAsync(TestFleet.Host(cold, cores: 1024, memoryMiB: 4096 * 1024, features: ["avx", flag]));
        var vms = new List<VmSpec>();
        for (var i = 0; i < 4; i++)
        {
            var vm = Vm(flag, vcpus: 200, memoryMiB: 512 * 1024);
            await Client.CreateVmAsync(vm, hot);
            vms.Add(vm);
        }

        // 800 of 1024 cores on the hot host: 78 %; at most 50 % means two VMs move to the cold one.
        var plan = await Client.PlanBalanceAsync(0.5, coolDownMinutes: 60);
        var ours = plan.Moves.Where(m => vms.Any(v => v.VmId == m.VmId)).ToList();
        Assert.Equal(2, ours.Count);
        Assert.All(ours, m => Assert.Equal((hot, cold), (m.FromHost, m.ToHost)));
        await WaitAsync(await Client.ApplyPlanAsync(plan.PlanId, 2));
        Assert.True((await Client.GetHostAsync(hot)).UsedVcpus <= 512);

        // Now both hosts are at 39 %, and an empty third host joins: a 30 % threshold would move VMs off both — but
        // the two on the formerly cold host were just moved by the balancer, so they stay (no ping-pong); without a
        // cool-down they would go too.
        // (The new host has room under 30 % for one VM from each of the others, so without a cool-down both move.)
        await Client.AddHostAsync(TestFleet.Host(TestFleet.Unique("bh"), cores: 2048, memoryMiB: 8192 * 1024, features: ["avx", flag]));
        var again = await Client.PlanBalanceAsync(0.3, coolDownMinutes: 60);
        Assert.DoesNotContain(again.Moves, m => m.FromHost == cold);
        Assert.Contains(again.Moves, m => m.FromHost == hot);
        Assert.Contains(again.Notes, n => n.StartsWith(cold, StringComparison.Ordinal));
        var noCoolDown = await Client.PlanBalanceAsync(0.3, coolDownMinutes: 0);
        Assert.Contains(noCoolDown.Moves, m => m.FromHost == cold);
        Assert.True((await FleetAuditor.AuditAsync(Client)).Clean);
    }

    private static VmSpec Vm(string flag, int vcpus, long memoryMiB) =>
        TestFleet.Vm(TestFleet.Unique("pv"), vcpus: vcpus, memoryMiB: memoryMiB, features: [flag], ip: TestFleet.RandomIp()) with
        {
            Labels = ImmutableDictionary<string, string>.Empty.Add("sim.dirty-mbps", "2"),
        };

    private async Task<FleetPlanStatus> WaitAsync(FleetPlanStatus plan)
    {
        var last = plan;
        try
        {
            return await Eventually.UntilAsync(async () => last = await Client.GetPlanAsync(plan.PlanId), p => p.IsEnded, Limit,
                $"plan {plan.PlanId} ends", TimeSpan.FromMilliseconds(100));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"plan {plan.PlanId} did not end: {string.Join(", ", last.Moves.Select(m => $"{m.VmId} {m.State} {m.Reason}"))}", ex);
        }
    }
}
