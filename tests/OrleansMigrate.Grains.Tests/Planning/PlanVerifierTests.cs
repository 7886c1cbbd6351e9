using OrleansMigrate.Grains.Planning;

namespace OrleansMigrate.Tests.Planning;

/// <summary>The verifier is not vacuous: plans that break a rule are caught.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class PlanVerifierTests
{
    private static readonly FleetSnapshot Fleet = new PlanningFleet()
        .Host("a").Vm("x", "a", 8, 32, group: "g").Vm("gpu", "a", 4, 8, passthrough: true).Vm("big", "a", 16, 64)
        .Host("b", cores: 16, memoryGiB: 64).Vm("peer", "b", 1, 1, group: "g")
        .Host("c", cores: 8, memoryGiB: 16)
        .Host("d", firmware: "0.9")
        .Build();

    [Theory]
    [InlineData("x", "a", "b", "anti-affinity")]
    [InlineData("gpu", "a", "d", "pinned")]
    [InlineData("big", "a", "c", "cores free")]
    [InlineData("x", "a", "d", "firmware")]
    [InlineData("x", "b", "d", "is on 'a'")]
    [InlineData("x", "a", "a", "current host")]
    [InlineData("x", "a", "d", "under policy 'critical'")]
    public void A_move_that_breaks_a_rule_is_reported(string vm, string from, string to, string expected)
    {
        var policy = expected.Contains("policy", StringComparison.Ordinal) ? "critical" : "standard";
        var check = PlanVerifier.Apply(Fleet, [new PlannedMove(vm, from, to, 0, 0, policy)]);

        Assert.False(check.Ok);
        Assert.Contains(check.Violations, v => v.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Capacity_is_tracked_along_the_plan()
    {
        // Each move alone fits c (8 cores); both together do not.
        var fleet = new PlanningFleet()
            .Host("a").Vm("p", "a", 5, 4).Vm("q", "a", 5, 4)
            .Host("c", cores: 8, memoryGiB: 16)
            .Build();

        Assert.True(PlanVerifier.Apply(fleet, [new PlannedMove("p", "a", "c", 5, 4096, "standard")]).Ok);
        var both = PlanVerifier.Apply(fleet, [new PlannedMove("p", "a", "c", 5, 4096, "standard"), new PlannedMove("q", "a", "c", 5, 4096, "standard")]);
        Assert.Single(both.Violations);
        Assert.Contains("move 2", both.Violations[0]);
    }

    [Fact]
    public void A_defrag_plan_whose_targets_do_not_hold_the_instances_is_reported()
    {
        var plan = new DefragPlan("p", new InstanceShape(16, 64 * 1024), 1, true, 0, [], [new ShapeSlots("a", 1)], 0, []);

        var check = PlanVerifier.VerifyDefrag(Fleet, plan);

        Assert.Contains(check.Violations, v => v.Contains("holds 0 of the 1", StringComparison.Ordinal));
    }
}
