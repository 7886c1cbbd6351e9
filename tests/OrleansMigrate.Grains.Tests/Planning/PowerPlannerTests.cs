using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Planning;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Tests.Planning;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class PowerPlannerTests
{
    [Fact]
    public void The_bound_counts_the_smallest_emptiable_hosts_that_fit_in_the_slack_and_an_even_rack_reaches_it()
    {
        // 4 × 32 cores / 128 GiB, one 4-core 16 GiB VM each: 16 of 128 cores used. With 20 % kept free the rack needs
        // ⌈100·16/80⌉ = 20 cores and ⌈100·64/80⌉ = 80 GiB on: 108 cores and 432 GiB of slack, three hosts' worth.
        var fleet = new PlanningFleet()
            .Host("a", rack: "r1").Vm("va", "a", 4, 16)
            .Host("b", rack: "r1").Vm("vb", "b", 4, 16)
            .Host("c", rack: "r1").Vm("vc", "c", 4, 16)
            .Host("d", rack: "r1").Vm("vd", "d", 4, 16)
            .Build();

        var plan = PowerPlanner.Plan(fleet, 20, "rack");

        Assert.Equal(3, plan.Bound);
        Assert.Equal(3, plan.HostsFreed);
        Assert.Equal(3, plan.Moves.Length);
        var domain = Assert.Single(plan.Domains);
        Assert.Equal((1, 3, 32L, 16L), (domain.HostsOn, domain.HostsFreed, domain.Cores, domain.UsedCores));
        Assert.True(domain.Keeps(20));
        Assert.Empty(PowerPlanner.Verify(fleet, plan));
    }

    [Fact]
    public void The_bound_is_the_smaller_of_the_core_and_memory_counts()
    {
        // Memory binds: 100 of 512 GiB used, 20 % free needs 125 GiB on → 387 GiB of slack, three 128 GiB hosts; cores
        // (8 of 128 used) would allow three too; with 50 % free, memory needs 200 GiB on → 312 GiB slack: two hosts.
        Assert.Equal(3, PowerPlanner.DomainBound([(32, 131072), (32, 131072), (32, 131072), (32, 131072)], 128, 8, 524288, 102400, 20));
        Assert.Equal(2, PowerPlanner.DomainBound([(32, 131072), (32, 131072), (32, 131072), (32, 131072)], 128, 8, 524288, 102400, 50));

        // Mixed sizes: the smallest first maximises the count (16 + 16 + 32 = 64 ≤ 70 of slack; any 4 would be 96).
        Assert.Equal(3, PowerPlanner.DomainBound([(64, 1), (16, 1), (32, 1), (16, 1)], 128, 46, 1000, 0, 20));
    }

    [Fact]
    public void Every_failure_domain_keeps_its_headroom_and_VMs_stay_inside_their_domain()
    {
        // r1 is busy (24 of 64 cores used: without one host it would have 8 of 32 free, 25 % — enough for 20, not for 30);
        // r2 is nearly empty. Nothing may move from r2 into r1's free room or the other way.
        var fleet = new PlanningFleet()
            .Host("r1-a", rack: "r1").Vm("x1", "r1-a", 20, 40)
            .Host("r1-b", rack: "r1").Vm("x2", "r1-b", 4, 8)
            .Host("r2-a", rack: "r2").Vm("y1", "r2-a", 2, 4)
            .Host("r2-b", rack: "r2").Vm("y2", "r2-b", 2, 4)
            .Host("r2-c", rack: "r2")
            .Build();

        var at20 = PowerPlanner.Plan(fleet, 20, "rack");
        var at30 = PowerPlanner.Plan(fleet, 30, "rack");

        Assert.Contains("r1-b", at20.HostsToFree);
        Assert.DoesNotContain(at30.HostsToFree, h => h.StartsWith("r1", StringComparison.Ordinal));
        Assert.Equal(2, at30.Domains.Single(d => d.Domain == "r2").HostsFreed);
        foreach (var plan in new[] { at20, at30 })
        {
            Assert.All(plan.Domains, d => Assert.True(d.Keeps(plan.HeadroomPercent), $"{d.Domain} at {plan.HeadroomPercent}: {d.FreeCoresPercent} % cores free"));
            Assert.All(plan.Moves, m => Assert.Equal(m.FromHost[..2], m.ToHost[..2]));
            Assert.Empty(PowerPlanner.Verify(fleet, plan));
        }
    }

    [Fact]
    public void A_domain_already_under_the_headroom_powers_nothing_off_and_says_why()
    {
        var fleet = new PlanningFleet()
            .Host("a", rack: "r1").Vm("a1", "a", 30, 64)
            .Host("b", rack: "r1").Vm("b1", "b", 30, 64)
            .Host("c", rack: "r1")
            .Build();

        var plan = PowerPlanner.Plan(fleet, 50, "rack");

        Assert.Empty(plan.HostsToFree);
        Assert.Equal(0, plan.Bound);
        Assert.Contains(plan.Reasons, r => r.Contains("under the 50 % headroom already", StringComparison.Ordinal));
    }

    [Fact]
    public void Hosts_with_pinned_VMs_reservations_or_not_taking_VMs_are_never_freed_nor_counted_in_the_bound()
    {
        var fleet = new PlanningFleet()
            .Host("gpu", rack: "r1").Vm("pt", "gpu", 2, 4, passthrough: true)
            .Host("busy", rack: "r1", reserved: (2, 4))
            .Host("cordoned", rack: "r1", scheduling: SchedulingState.Cordoned)
            .Host("big", rack: "r1", cores: 128, memoryGiB: 512)
            .Build();

        var plan = PowerPlanner.Plan(fleet, 20, "rack");

        // Only the empty "big" may go: the others hold a VM that never live-migrates, a reservation, or take no VMs.
        Assert.Equal("big", Assert.Single(plan.HostsToFree));
        Assert.Equal(1, plan.Bound);
        Assert.Contains(plan.Reasons, r => r.Contains("2 host(s) cannot be emptied", StringComparison.Ordinal));
        Assert.Empty(PowerPlanner.Verify(fleet, plan));
    }

    [Fact]
    public void Anti_affinity_and_CPU_features_keep_a_host_on_when_its_VMs_have_nowhere_else_in_the_domain()
    {
        // g1 and g2 are one anti-affinity group: each needs its own host; "amx" runs only on "new".
        var fleet = new PlanningFleet()
            .Host("a", rack: "r1").Vm("g1", "a", 2, 4, group: "g")
            .Host("b", rack: "r1").Vm("g2", "b", 2, 4, group: "g")
            .Host("new", rack: "r1", features: ["sse4_2", "avx", "avx2", "amx"]).Vm("m1", "new", 2, 4, features: ["amx"])
            .Build();

        var plan = PowerPlanner.Plan(fleet, 0, "rack");

        // "a" empties onto "new" (its group peer is on "b"); then g2 has nowhere to go, and "new" received a VM.
        Assert.Equal("a", Assert.Single(plan.HostsToFree));
        Assert.Equal(2, plan.Bound);
        Assert.Contains(plan.Reasons, r => r.Contains("could not be emptied", StringComparison.Ordinal));
        Assert.Empty(PowerPlanner.Verify(fleet, plan));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 20)]
    [InlineData(3, 40)]
    [InlineData(4, 90)]
    public void On_random_fleets_plans_keep_every_rule_and_never_free_more_than_the_bound(int seed, int headroom)
    {
        var fleet = PlanningFleet.Random(seed, 60, 300);

        var plan = PowerPlanner.Plan(fleet, headroom, "rack");

        Assert.Empty(PowerPlanner.Verify(fleet, plan));
        Assert.InRange(plan.HostsFreed, 0, plan.Bound);
    }

    [Fact]
    public void A_plan_for_one_domain_leaves_the_others_alone()
    {
        var fleet = new PlanningFleet()
            .Host("a", rack: "r1").Vm("a1", "a", 2, 4).Host("b", rack: "r1")
            .Host("c", rack: "r2").Vm("c1", "c", 2, 4).Host("d", rack: "r2")
            .Build();

        var plan = PowerPlanner.Plan(fleet, 20, "rack", onlyDomain: "r2");

        Assert.All(plan.HostsToFree, h => Assert.Contains(h, new[] { "c", "d" }));
        Assert.Equal("r2", Assert.Single(plan.Domains).Domain);
        Assert.Equal("domain", Assert.Throws<OmigException>(() => PowerPlanner.Plan(fleet, 20, "rack", onlyDomain: "r9")).Field);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(91)]
    [InlineData(100)]
    public void A_headroom_out_of_range_is_refused_naming_the_field(int headroom)
    {
        var ex = Assert.Throws<OmigException>(() => PowerPlanner.Plan(new PlanningFleet().Host("a").Build(), headroom, "rack"));

        Assert.Equal(("headroom", OmigErrorCode.InvalidArgument), (ex.Field, ex.Code));
    }

    [Fact]
    public void A_powered_off_host_is_never_a_destination_and_not_counted_in_its_domain()
    {
        var fleet = new PlanningFleet().Host("on", rack: "r1").Vm("v", "on", 2, 4).Host("off", rack: "r1").Build();
        var off = fleet.Hosts[1] with { Power = HostPowerState.Off };
        fleet = fleet with { Hosts = [fleet.Hosts[0], off] };

        var plan = PowerPlanner.Plan(fleet, 0, "rack");
        var domain = Assert.Single(PowerPlanner.Domains(fleet.Hosts, "rack"));

        Assert.Empty(plan.Moves);
        Assert.Equal((1, 1, 32L), (domain.HostsOn, domain.HostsOff, domain.Cores));
        Assert.False(Grains.Migration.DestinationSelector.TakesVms(off));
        Assert.Equal("it is powered off", Grains.Migration.DestinationSelector.Refusal(fleet.Vms[0], fleet.Hosts[0], off, [], Grains.Migration.MigrationPolicy.BuiltIn["standard"]));
    }
}
