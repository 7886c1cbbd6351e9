using System.Collections.Immutable;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Operations;
using FleetPlacement = OrleansMigrate.Fleet.Placement;

namespace OrleansMigrate.Tests.Placement;

/// <summary>The ranking a fleet snapshot computes once for every drain, and the few candidates one drain pass reads.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class RankedHostsTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 2, 0, 0, 0, TimeSpan.Zero);

    private static HostRecord Host(string id, string fw = "2.0.0", int usedVcpus = 0, long usedMem = 0,
        SchedulingState scheduling = SchedulingState.Schedulable, HostHealth health = HostHealth.Ok) =>
        new(new HostSpec(id, 64, 262144, "Xeon", ["avx2"], 3, fw, "6.1.0", "7.2.0", ImmutableDictionary<string, string>.Empty),
            health, scheduling,
            usedVcpus == 0 && usedMem == 0 ? ImmutableDictionary<string, FleetPlacement>.Empty : ImmutableDictionary<string, FleetPlacement>.Empty.Add("vm", new FleetPlacement(usedVcpus, usedMem)),
            ImmutableDictionary<string, FleetPlacement>.Empty, At);

    [Fact]
    public void The_walk_ranks_eligible_then_preferred_then_free_memory_then_free_cores_and_yields_every_host_once()
    {
        var hosts = new[]
        {
            Host("cordoned-empty", scheduling: SchedulingState.Cordoned),
            Host("old-empty"),
            Host("new-full", fw: "3.0.0", usedVcpus: 60, usedMem: 200000),
            Host("degraded-new", fw: "3.0.0", health: HostHealth.Degraded),
            Host("new-half", fw: "3.0.0", usedVcpus: 32, usedMem: 100000),
            Host("old-mem", usedVcpus: 2, usedMem: 1000),
            Host("old-cores", usedVcpus: 8, usedMem: 1000),
        };

        var walk = new RankedHosts(hosts, "3.0.0").Walk("h-1").Select(h => h.HostId).ToList();

        Assert.Equal(["new-half", "new-full", "old-empty", "old-mem", "old-cores"], walk.Take(5));
        Assert.Equal(["cordoned-empty", "degraded-new"], walk.Skip(5).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Equal_hosts_are_walked_from_a_different_place_per_draining_host_and_the_same_every_time()
    {
        var ranked = new RankedHosts(Enumerable.Range(0, 50).Select(i => Host($"h-{i:D3}", fw: "3.0.0")), "3.0.0");

        string[] FirstFive(string drainedHost) => [.. ranked.Walk(drainedHost).Take(5).Select(h => h.HostId)];

        Assert.Equal(FirstFive("h-900"), FirstFive("h-900"));
        var firsts = Enumerable.Range(900, 20).Select(i => FirstFive($"h-{i}")[0]).Distinct().Count();
        Assert.True(firsts >= 8, $"20 drains start on only {firsts} distinct hosts");
        Assert.Equal(50, ranked.Walk("h-900").Select(h => h.HostId).Distinct().Count());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void A_pass_over_a_few_candidates_chooses_what_a_pass_over_the_whole_ranking_chooses(int seed)
    {
        // Random fleets of mixed firmware, fill and state; each pass places 8 VMs, reserving on the chosen host. The
        // candidates read 8 + margin hosts; the reference sorts the whole fleet after every reservation.
        var random = new Random(seed);
        var hosts = Enumerable.Range(0, 300).Select(i => Host($"h-{i:D3}", fw: random.Next(3) == 0 ? "3.0.0" : "2.0.0",
            usedVcpus: random.Next(4) * 8, usedMem: random.Next(4) * 32768,
            scheduling: random.Next(10) == 0 ? SchedulingState.Cordoned : SchedulingState.Schedulable)).ToArray();
        var ranked = new RankedHosts(hosts, "3.0.0");

        var candidates = new DrainCandidates(ranked.Walk("drained"), "3.0.0", take: 12);
        var reference = ranked.Walk("drained").ToList();
        var chosen = new List<string>();
        var expected = new List<string>();
        for (var vm = 0; vm < 8; vm++)
        {
            var pick = candidates.Hosts.First(h => h.Scheduling == SchedulingState.Schedulable);
            chosen.Add(pick.HostId);
            candidates.Replace(pick, Reserve(pick, vm));

            var best = reference.Where(h => h.Scheduling == SchedulingState.Schedulable)
                .OrderByDescending(h => h.Spec.FirmwareVersion == "3.0.0").ThenByDescending(h => h.FreeMemoryMiB).ThenByDescending(h => h.FreeVcpus)
                .ThenBy(h => reference.IndexOf(h)).First();
            expected.Add(best.HostId);
            reference[reference.IndexOf(best)] = Reserve(best, vm);
        }

        Assert.Equal(expected, chosen);
        Assert.True(candidates.HasMore);
        Assert.True(candidates.Hosts.Count <= 12);
    }

    [Fact]
    public void When_no_candidate_can_take_a_VM_the_rest_of_the_ranking_is_read_once()
    {
        var hosts = Enumerable.Range(0, 40).Select(i => Host($"h-{i:D2}", usedVcpus: i < 30 ? 0 : 8)).ToArray();
        var candidates = new DrainCandidates(new RankedHosts(hosts, null).Walk("x"), null, take: 5);
        Assert.Equal(5, candidates.Hosts.Count);

        candidates.TakeAll();

        Assert.False(candidates.HasMore);
        Assert.Equal(40, candidates.Hosts.Select(h => h.HostId).Distinct().Count());
        Assert.All(candidates.Hosts.Take(30), h => Assert.Equal(64, h.FreeVcpus));
    }

    [Fact]
    public void The_view_sums_free_room_on_the_target_firmware_or_newer_once()
    {
        var view = new HostView([
            Host("new", fw: "3.0.0", usedVcpus: 4, usedMem: 1024),
            Host("newer", fw: "3.10.0"),
            Host("old", fw: "2.9.0"),
            Host("new-cordoned", fw: "3.0.0", scheduling: SchedulingState.Cordoned),
        ]);

        Assert.Equal((60L + 64, 262144L - 1024 + 262144), view.FreeOnOrAbove("3.0.0"));
        Assert.Same(view.RankedFor("3.0.0"), view.RankedFor("3.0.0"));
        Assert.Equal("old", view.ById["old"].HostId);
    }

    private static HostRecord Reserve(HostRecord host, int vm) =>
        host with { Reservations = host.Reservations.SetItem($"drain:vm-{vm}", new FleetPlacement(4, 16384)) };
}
