using System.Collections.Immutable;
using OrleansMigrate.Grains.Planning;
using OrleansMigrate.Planning;

namespace OrleansMigrate.Tests.Planning;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class BalancePlannerTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan CoolDown = TimeSpan.FromMinutes(30);
    private static readonly IReadOnlyDictionary<string, DateTimeOffset> NeverMoved = ImmutableDictionary<string, DateTimeOffset>.Empty;

    [Fact]
    public void One_move_fixes_a_host_when_one_VM_covers_the_excess_and_it_is_the_smallest_such()
    {
        // a: 30 of 32 cores used, limit at 0.8 is 25 → excess 5 cores; "six" (6 cores) is the smallest VM that fixes it.
        var fleet = new PlanningFleet()
            .Host("a").Vm("two", "a", 2, 4).Vm("six", "a", 6, 8).Vm("eight", "a", 8, 8).Vm("fourteen", "a", 14, 16)
            .Host("b").Vm("b1", "b", 4, 8)
            .Host("c").Vm("c1", "c", 20, 64)
            .Build();

        var plan = BalancePlanner.Plan(fleet, 0.8, NeverMoved, CoolDown, Now);

        Assert.Equal(1, plan.HostsOver);
        var move = Assert.Single(plan.Moves);
        Assert.Equal(("six", "a", "b"), (move.VmId, move.FromHost, move.ToHost));
        Assert.Empty(plan.Unresolved);
        Assert.True(PlanVerifier.VerifyBalance(fleet, plan, NeverMoved, CoolDown, Now).Ok);
    }

    [Fact]
    public void Several_moves_when_no_single_VM_covers_the_excess_largest_first_and_destinations_stay_under()
    {
        // a: 32/32 cores, 120/128 GiB; limits 25 cores, 102 GiB → excess 7 cores and 18 GiB; no VM covers both.
        var fleet = new PlanningFleet()
            .Host("a").Vm("m1", "a", 2, 16).Vm("m2", "a", 2, 16).Vm("c1", "a", 6, 4).Vm("rest", "a", 22, 84)
            .Host("b", cores: 16, memoryGiB: 64)
            .Host("c", cores: 16, memoryGiB: 64)
            .Build();

        var plan = BalancePlanner.Plan(fleet, 0.8, NeverMoved, CoolDown, Now);

        var check = PlanVerifier.VerifyBalance(fleet, plan, NeverMoved, CoolDown, Now);
        Assert.True(check.Ok, string.Join("\n", check.Violations));
        Assert.Empty(plan.Unresolved);
        Assert.InRange(plan.Moves.Length, 2, 3);
        Assert.All(check.After.Hosts, h => Assert.True(PlanVerifier.UnderThreshold(h, 0.8), h.HostId));
    }

    [Fact]
    public void A_VM_in_its_cool_down_stays_and_may_move_once_the_cool_down_is_over()
    {
        var fleet = new PlanningFleet()
            .Host("a").Vm("x", "a", 8, 32).Vm("gpu", "a", 20, 80, passthrough: true)
            .Host("b")
            .Build();
        var lastMoved = new Dictionary<string, DateTimeOffset> { ["x"] = Now - TimeSpan.FromMinutes(5) };

        var cooling = BalancePlanner.Plan(fleet, 0.8, lastMoved, CoolDown, Now);

        Assert.Empty(cooling.Moves);
        var stuck = Assert.Single(cooling.Unresolved);
        Assert.Equal("a", stuck.HostId);
        Assert.Contains("cool-down", stuck.Reason);
        Assert.True(PlanVerifier.VerifyBalance(fleet, cooling, lastMoved, CoolDown, Now).Ok);

        var later = Now + CoolDown;
        var after = BalancePlanner.Plan(fleet, 0.8, lastMoved, CoolDown, later);

        var move = Assert.Single(after.Moves);
        Assert.Equal(("x", "b"), (move.VmId, move.ToHost));
        Assert.True(PlanVerifier.VerifyBalance(fleet, after, lastMoved, CoolDown, later).Ok);
    }

    [Fact]
    public void Pass_through_VMs_never_move_and_the_host_is_reported()
    {
        var fleet = new PlanningFleet()
            .Host("a").Vm("gpu1", "a", 16, 64, passthrough: true).Vm("gpu2", "a", 14, 32, instanceClass: PlanRules.PassthroughClass)
            .Host("b")
            .Build();

        var plan = BalancePlanner.Plan(fleet, 0.8, NeverMoved, CoolDown, Now);

        Assert.Empty(plan.Moves);
        Assert.Contains("pass-through", Assert.Single(plan.Unresolved).Reason);
    }

    [Fact]
    public void A_destination_that_would_go_over_the_threshold_or_break_a_rule_is_not_used()
    {
        // y is pinned; b has room but would end above 0.8; c lacks avx512f; d holds the anti-affinity peer: nothing can take x.
        var fleet = new PlanningFleet()
            .Host("a", features: ["avx", "avx512f"]).Vm("x", "a", 8, 32, features: ["avx512f"], group: "g").Vm("y", "a", 22, 64, features: ["avx512f"], passthrough: true)
            .Host("b", features: ["avx", "avx512f"]).Vm("b1", "b", 20, 64)
            .Host("c", features: ["avx"])
            .Host("d", features: ["avx", "avx512f"]).Vm("peer", "d", 1, 1, group: "g")
            .Build();

        var plan = BalancePlanner.Plan(fleet, 0.8, NeverMoved, CoolDown, Now);

        Assert.Empty(plan.Moves);
        Assert.Contains("no allowed host", Assert.Single(plan.Unresolved).Reason);
        Assert.True(PlanVerifier.VerifyBalance(fleet, plan, NeverMoved, CoolDown, Now).Ok);
    }

    [Theory]
    [InlineData(1, 0.8)]
    [InlineData(2, 0.8)]
    [InlineData(3, 0.75)]
    [InlineData(4, 0.7)]
    [InlineData(5, 0.85)]
    public void On_random_fleets_plans_verify_and_a_second_run_on_the_result_moves_nothing(int seed, double maxUtil)
    {
        var fleet = SyntheticFleet.Generate(60, 800, seed);

        var plan = BalancePlanner.Plan(fleet, maxUtil, NeverMoved, CoolDown, Now);

        Assert.True(plan.HostsOver > 0, "the fleet should start with hosts over the threshold");
        Assert.NotEmpty(plan.Moves);
        var check = PlanVerifier.VerifyBalance(fleet, plan, NeverMoved, CoolDown, Now);
        Assert.True(check.Ok, string.Join("\n", check.Violations));
        Assert.True(plan.Unresolved.Length < plan.HostsOver);

        // The balancer runs again after the moves: nothing moves back, now or after the cool-down.
        var lastMoved = plan.RecordMoves(NeverMoved, Now);
        Assert.Equal(plan.Moves.Length, lastMoved.Count);
        var again = BalancePlanner.Plan(check.After, maxUtil, lastMoved, CoolDown, Now + TimeSpan.FromMinutes(1));
        Assert.Empty(again.Moves);
        var later = BalancePlanner.Plan(check.After, maxUtil, lastMoved, CoolDown, Now + CoolDown + TimeSpan.FromMinutes(1));
        Assert.True(later.Moves.Length == 0 || plan.Unresolved.Length > 0, "hosts the first run fixed stay fixed");
        Assert.True(PlanVerifier.VerifyBalance(check.After, later, lastMoved, CoolDown, Now + CoolDown + TimeSpan.FromMinutes(1)).Ok);
    }

    [Theory]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(34)]
    [InlineData(35)]
    public void On_random_fleets_with_every_rule_in_play_plans_verify_and_cooling_VMs_stay(int seed)
    {
        var fleet = PlanningFleet.Random(seed, hostCount: 40, vmCount: 300);
        var random = new Random(seed);
        var lastMoved = fleet.Vms.Where(_ => random.Next(4) == 0)
            .ToDictionary(v => v.VmId, v => Now - TimeSpan.FromMinutes(random.Next(0, 60)));

        var plan = BalancePlanner.Plan(fleet, 0.7, lastMoved, CoolDown, Now);

        Assert.NotEmpty(plan.Moves);
        var check = PlanVerifier.VerifyBalance(fleet, plan, lastMoved, CoolDown, Now);
        Assert.True(check.Ok, string.Join("\n", check.Violations));
        var again = BalancePlanner.Plan(check.After, 0.7, plan.RecordMoves(lastMoved, Now), CoolDown, Now);
        Assert.Empty(again.Moves);
    }

    [Fact]
    public void Rejects_a_threshold_outside_zero_to_one()
    {
        var fleet = new PlanningFleet().Host("a").Build();
        Assert.Throws<OrleansMigrate.Errors.OmigException>(() => BalancePlanner.Plan(fleet, 0, NeverMoved, CoolDown, Now));
        Assert.Throws<OrleansMigrate.Errors.OmigException>(() => BalancePlanner.Plan(fleet, 1.5, NeverMoved, CoolDown, Now));
    }
}
