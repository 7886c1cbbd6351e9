using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Planning;
using OrleansMigrate.Planning;

namespace OrleansMigrate.Tests.Planning;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DefragPlannerTests
{
    private static readonly InstanceShape Large = new(16, 64 * 1024);

    public static TheoryData<string> Cases => [.. Table.Keys];

    /// <summary>Name → fleet, shape, count, expected moves (vm:from→to, in order; null: not reached), expected lower bound.</summary>
    private static readonly Dictionary<string, (FleetSnapshot Fleet, InstanceShape Shape, int Count, string[]? Moves, int? LowerBound)> Table = new()
    {
        ["fits without moves"] = (new PlanningFleet()
                .Host("a").Vm("v1", "a", 8, 32)
                .Host("b").Vm("v2", "b", 24, 96)
                .Build(), Large, 1, [], 0),
        ["one eviction: the smallest VM that covers the deficit"] = (new PlanningFleet()
                .Host("a").Vm("big", "a", 16, 64).Vm("small", "a", 8, 32)
                .Host("b").Vm("other", "b", 8, 32)
                .Build(), Large, 2, ["small:a→b"], 1),
        ["anti-affinity forbids the best fit"] = (new PlanningFleet()
                .Host("a").Vm("x", "a", 8, 32, group: "db").Vm("fill", "a", 16, 64)
                .Host("b", cores: 12, memoryGiB: 40).Vm("peer", "b", 2, 4, group: "db")
                .Host("c", cores: 12, memoryGiB: 48)
                .Build(), Large, 1, ["x:a→c"], 1),
        ["missing CPU features forbid the best fit"] = (new PlanningFleet()
                .Host("a", features: ["avx", "avx2", "avx512f"]).Vm("x", "a", 8, 32, features: ["avx512f"]).Vm("fill", "a", 16, 64)
                .Host("b", cores: 12, memoryGiB: 40, features: ["avx", "avx2"])
                .Host("c", cores: 12, memoryGiB: 48, features: ["avx", "avx512f"])
                .Build(), Large, 1, ["x:a→c"], 1),
        ["an older firmware forbids the best fit"] = (new PlanningFleet()
                .Host("a", firmware: "2.10.0").Vm("x", "a", 8, 32).Vm("fill", "a", 16, 64)
                .Host("b", cores: 12, memoryGiB: 40, firmware: "2.9.9")
                .Host("c", cores: 12, memoryGiB: 48, firmware: "2.10")
                .Build(), Large, 1, ["x:a→c"], 1),
        ["an older hypervisor forbids the best fit"] = (new PlanningFleet()
                .Host("a", hypervisor: "8.2.0").Vm("x", "a", 8, 32).Vm("fill", "a", 16, 64)
                .Host("b", cores: 12, memoryGiB: 40, hypervisor: "8.1.9")
                .Host("c", cores: 12, memoryGiB: 48, hypervisor: "8.10")
                .Build(), Large, 1, ["x:a→c"], 1),
        ["the any-version policy allows the older firmware"] = (new PlanningFleet()
                .Host("a", firmware: "2.10.0").Vm("x", "a", 8, 32, instanceClass: "any-version").Vm("fill", "a", 16, 64)
                .Host("b", cores: 12, memoryGiB: 40, firmware: "2.9.9")
                .Host("c", cores: 12, memoryGiB: 48, firmware: "2.10")
                .Build(), Large, 1, ["x:a→b"], 1),
        ["a pass-through VM stays, the other one moves"] = (new PlanningFleet()
                .Host("a").Vm("gpu", "a", 8, 32, passthrough: true).Vm("x", "a", 12, 48)
                .Host("b", cores: 15, memoryGiB: 60)
                .Build(), Large, 1, ["x:a→b"], 1),
        ["a passthrough-class VM stays too"] = (new PlanningFleet()
                .Host("a").Vm("pinned", "a", 8, 32, instanceClass: PlanRules.PassthroughClass).Vm("x", "a", 12, 48)
                .Host("b", cores: 15, memoryGiB: 60)
                .Build(), Large, 1, ["x:a→b"], 1),
        ["pass-through VMs block the only host: unreachable"] = (new PlanningFleet()
                .Host("a").Vm("gpu", "a", 24, 96, passthrough: true)
                .Host("b", cores: 12, memoryGiB: 48)
                .Build(), Large, 1, null, null),
        ["no host is large enough: unreachable"] = (new PlanningFleet()
                .Host("a")
                .Build(), new InstanceShape(48, 192 * 1024), 1, null, null),
        ["more than the fleet can ever hold: unreachable"] = (new PlanningFleet()
                .Host("a").Vm("v1", "a", 8, 32)
                .Host("b").Vm("v2", "b", 8, 32)
                .Build(), Large, 5, null, null),
        ["the only destination is taken: unreachable, with a bound"] = (new PlanningFleet()
                .Host("a").Vm("x", "a", 8, 32).Vm("fill", "a", 16, 64)
                .Host("b", cores: 12, memoryGiB: 48).Vm("peer", "b", 8, 8)
                .Build(), Large, 1, null, 1),
        ["a cordoned or degraded host is no target and no destination"] = (new PlanningFleet()
                .Host("a").Vm("x", "a", 8, 32).Vm("fill", "a", 16, 64)
                .Host("b", cores: 64, memoryGiB: 256, scheduling: SchedulingState.Cordoned)
                .Host("c", cores: 16, memoryGiB: 64, health: HostHealth.Degraded)
                .Host("d", cores: 12, memoryGiB: 48)
                .Build(), Large, 1, ["x:a→d"], 1),
        ["reservations count as used"] = (new PlanningFleet()
                .Host("a", reserved: (8, 32)).Vm("x", "a", 8, 32).Vm("fill", "a", 8, 32)
                .Host("b", cores: 12, memoryGiB: 48, reserved: (8, 32))
                .Host("c", cores: 12, memoryGiB: 56)
                .Build(), Large, 1, ["x:a→c"], 1),
        ["the shape's CPU features pick the target"] = (new PlanningFleet()
                .Host("a", features: ["avx", "avx2"])
                .Host("b", features: ["avx", "avx2", "amx"]).Vm("x", "b", 8, 32)
                .Host("c", cores: 12, memoryGiB: 48)
                .Build(), new InstanceShape(32, 128 * 1024, ["amx"]), 1, ["x:b→c"], 1),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Plans_the_expected_moves_and_the_verifier_agrees(string name)
    {
        var (fleet, shape, count, expected, lowerBound) = Table[name];

        var plan = DefragPlanner.Plan(fleet, shape, count);

        var check = PlanVerifier.VerifyDefrag(fleet, plan);
        Assert.True(check.Ok, string.Join("\n", check.Violations));
        Assert.Equal(lowerBound, plan.LowerBound);
        if (expected is null)
        {
            Assert.False(plan.Reached);
            Assert.NotEmpty(plan.Reasons);
            return;
        }

        Assert.True(plan.Reached, string.Join("; ", plan.Reasons));
        Assert.Empty(plan.Reasons);
        Assert.Equal(expected, plan.Moves.Select(m => $"{m.VmId}:{m.FromHost}→{m.ToHost}").ToArray());
        Assert.True(plan.Targets.Sum(t => t.Count) >= count);
        Assert.All(check.After.Vms.Where(v => PlanRules.IsPinned(v, PlanRules.BuiltIn)), v => Assert.Equal(fleet.Vms.Single(o => o.VmId == v.VmId).HostId, v.HostId));
    }

    [Theory]
    [InlineData(1, 16, 64)]
    [InlineData(2, 16, 64)]
    [InlineData(3, 32, 128)]
    [InlineData(4, 32, 128)]
    [InlineData(5, 8, 32)]
    [InlineData(6, 32, 128)]
    public void On_random_synthetic_fleets_every_plan_verifies_and_never_beats_its_lower_bound(int seed, int vcpus, int memoryGiB)
    {
        var fleet = SyntheticFleet.Generate(120, 2000, seed);
        var shape = new InstanceShape(vcpus, memoryGiB * 1024L);
        var fitting = DefragPlanner.Plan(fleet, shape, 1).AlreadyFitting;
        var reachedSome = false;

        foreach (var count in new[] { (int)fitting + 1, (int)fitting + 10, (int)fitting * 2 + 5 })
        {
            var plan = DefragPlanner.Plan(fleet, shape, count);

            var check = PlanVerifier.VerifyDefrag(fleet, plan);
            Assert.True(check.Ok, $"seed {seed} count {count}:\n" + string.Join("\n", check.Violations));
            if (plan.Reached)
            {
                reachedSome = true;
                Assert.NotNull(plan.LowerBound);
                Assert.InRange(plan.Moves.Length, plan.LowerBound!.Value, int.MaxValue);
                Assert.True(check.After.Hosts.Where(h => PlanRules.CanHostShape(h, shape)).Sum(h => PlanRules.Fits(h.FreeVcpus, h.FreeMemoryMiB, shape)) >= count);
            }
            else
            {
                Assert.NotEmpty(plan.Reasons);
            }

            Assert.DoesNotContain(plan.Moves, m => PlanRules.IsPinned(fleet.Vms.Single(v => v.VmId == m.VmId), PlanRules.BuiltIn));
            Assert.Equal(plan.Moves.Length, plan.Moves.Select(m => m.VmId).Distinct().Count());
        }

        Assert.True(reachedSome, $"seed {seed}: no count was reached; the property is vacuous");
    }

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    [InlineData(23)]
    [InlineData(24)]
    [InlineData(25)]
    [InlineData(26)]
    [InlineData(27)]
    [InlineData(28)]
    public void On_random_fleets_with_every_rule_in_play_plans_verify(int seed)
    {
        var fleet = PlanningFleet.Random(seed, hostCount: 40, vmCount: 400);
        string[][] features = [[], ["avx2"], ["avx512f"]];
        var moved = 0;

        foreach (var (extra, i) in new[] { 1, 2, 3, 6, 1, 2, 3, 6, 1, 2, 3, 6 }.Select((e, i) => (e, i)))
        {
            var shape = new InstanceShape(8, 16 * 1024, [.. features[i / 4]]);
            var count = (int)DefragPlanner.Plan(fleet, shape, 1).AlreadyFitting + extra;
            var plan = DefragPlanner.Plan(fleet, shape, count);

            var check = PlanVerifier.VerifyDefrag(fleet, plan);
            Assert.True(check.Ok, $"seed {seed} count {count}:\n" + string.Join("\n", check.Violations));
            Assert.True(plan.Reached || plan.Reasons.Length > 0);
            Assert.True(!plan.Reached || plan.Moves.Length >= plan.LowerBound);
            moved += plan.Reached ? plan.Moves.Length : 0;
        }

        Assert.True(moved > 0, $"seed {seed}: no reached plan moved anything; the property is vacuous");
    }

    /// <summary>On tiny fleets, search every plan of up to three moves: the bound is never above the optimum, the plan never below it.</summary>
    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    [InlineData(14)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(18)]
    public void The_lower_bound_is_at_most_the_optimum_found_by_exhaustive_search(int seed)
    {
        var random = new Random(seed);
        var fleet = new PlanningFleet();
        for (var h = 0; h < 3; h++)
        {
            fleet.Host("h" + h, cores: 16, memoryGiB: 64);
        }

        for (var v = 0; v < 7; v++)
        {
            fleet.Vm("v" + v, "h" + random.Next(3), random.Next(1, 7), random.Next(1, 25), group: random.Next(4) == 0 ? "g" : null, passthrough: random.Next(8) == 0);
        }

        var snapshot = fleet.Build();
        var shape = new InstanceShape(8, 32 * 1024);
        var checkedOne = false;
        for (var count = 1; count <= 4; count++)
        {
            var plan = DefragPlanner.Plan(snapshot, shape, count);
            Assert.True(PlanVerifier.VerifyDefrag(snapshot, plan).Ok);
            var optimum = Optimum(snapshot, shape, count, depth: 3);
            if (optimum is { } best)
            {
                checkedOne = true;
                Assert.NotNull(plan.LowerBound);
                Assert.True(plan.LowerBound <= best, $"seed {seed} count {count}: lower bound {plan.LowerBound} > optimum {best}");
            }

            if (plan.Reached)
            {
                Assert.True(plan.Moves.Length >= (optimum ?? 4), $"seed {seed} count {count}: {plan.Moves.Length} moves beat the optimum {optimum}");
            }
        }

        Assert.True(checkedOne);
    }

    [Fact]
    public void Moves_carry_the_policy_they_were_checked_with()
    {
        var fleet = Table["the any-version policy allows the older firmware"].Fleet;

        var plan = DefragPlanner.Plan(fleet, Large, 1);

        Assert.Equal("any-version", Assert.Single(plan.Moves).Policy);
        Assert.Equal("standard", DefragPlanner.Plan(Table["an older firmware forbids the best fit"].Fleet, Large, 1).Moves.Single().Policy);
    }

    [Fact]
    public void A_VM_whose_host_is_not_in_the_snapshot_never_moves()
    {
        var fleet = new PlanningFleet()
            .Host("a").Vm("x", "a", 8, 32).Vm("fill", "a", 16, 64)
            .Host("b", cores: 12, memoryGiB: 48)
            .Vm("ghost", "gone", 4, 4)
            .Build();

        var plan = DefragPlanner.Plan(fleet, Large, 1);

        Assert.True(plan.Reached);
        Assert.DoesNotContain(plan.Moves, m => m.VmId == "ghost");
        Assert.True(PlanVerifier.VerifyDefrag(fleet, plan).Ok);
    }

    [Fact]
    public void A_count_too_large_to_plan_at_once_is_refused_with_the_largest_that_is_not()
    {
        var fleet = SyntheticFleet.Generate(400, 4000, 1);

        var ex = Assert.Throws<OrleansMigrate.Errors.OmigException>(() => DefragPlanner.Plan(fleet, new InstanceShape(1, 512), 100_000));

        Assert.Contains("at most", ex.Message);
    }

    [Fact]
    public void Rejects_a_bad_count_or_shape()
    {
        var fleet = new PlanningFleet().Host("a").Build();
        Assert.Throws<OrleansMigrate.Errors.OmigException>(() => DefragPlanner.Plan(fleet, Large, 0));
        Assert.Throws<OrleansMigrate.Errors.OmigException>(() => DefragPlanner.Plan(fleet, new InstanceShape(0, 1024), 1));
    }

    /// <summary>Fewest moves (≤ depth) after which <paramref name="count"/> instances fit, by breadth-first search over valid moves.</summary>
    private static int? Optimum(FleetSnapshot fleet, InstanceShape shape, int count, int depth)
    {
        var frontier = new List<List<PlannedMove>> { new() };
        for (var d = 0; d <= depth; d++)
        {
            var next = new List<List<PlannedMove>>();
            foreach (var moves in frontier)
            {
                var check = PlanVerifier.Apply(fleet, moves);
                if (!check.Ok)
                {
                    continue;
                }

                var after = check.After;
                if (after.Hosts.Where(h => PlanRules.CanHostShape(h, shape)).Sum(h => PlanRules.Fits(h.FreeVcpus, h.FreeMemoryMiB, shape)) >= count)
                {
                    return d;
                }

                if (d == depth)
                {
                    continue;
                }

                foreach (var vm in after.Vms.Where(v => !PlanRules.IsPinned(v, PlanRules.BuiltIn)))
                {
                    foreach (var host in after.Hosts.Where(h => h.HostId != vm.HostId))
                    {
                        next.Add([.. moves, new PlannedMove(vm.VmId, vm.HostId, host.HostId, vm.Spec.Vcpus, vm.Spec.MemoryMiB, "standard")]);
                    }
                }
            }

            frontier = next;
        }

        return null;
    }
}
