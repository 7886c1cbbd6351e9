using System.Collections.Immutable;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Operations;
using FleetPlacement = OrleansMigrate.Fleet.Placement;

namespace OrleansMigrate.Tests.Placement;

/// <summary>The order in which a drain tries destinations (<see cref="RankedHosts"/>), and the host usage sums it ranks by.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DestinationOrderTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 26, 0, 0, 0, TimeSpan.Zero);

    private static HostRecord Host(string id, string fw = "2.0.0", int usedVcpus = 0, long usedMem = 0) =>
        new(new HostSpec(id, 64, 262144, "Xeon", ["avx2"], 3, fw, "6.1.0", "7.2.0", ImmutableDictionary<string, string>.Empty),
            HostHealth.Ok, SchedulingState.Schedulable,
            usedVcpus == 0 && usedMem == 0 ? ImmutableDictionary<string, FleetPlacement>.Empty : ImmutableDictionary<string, FleetPlacement>.Empty.Add("vm", new FleetPlacement(usedVcpus, usedMem)),
            ImmutableDictionary<string, FleetPlacement>.Empty, At);

    [Fact]
    public void Hosts_taking_VMs_come_first_then_the_preferred_firmware_then_free_memory_then_free_cores()
    {
        var hosts = new List<HostRecord>
        {
            Host("old-empty"),
            Host("new-full", fw: "3.0.0", usedVcpus: 60, usedMem: 200000),
            Host("new-half", fw: "3.0.0", usedVcpus: 32, usedMem: 100000),
            Host("old-mem", usedVcpus: 2, usedMem: 1000),
            Host("old-cores", usedVcpus: 8, usedMem: 1000),
        };

        var cordoned = Host("new-cordoned", fw: "3.0.0") with { Scheduling = SchedulingState.Cordoned };

        var ranked = new RankedHosts([.. hosts, cordoned], "3.0.0").Walk("h-1");

        Assert.Equal(["new-half", "new-full", "old-empty", "old-mem", "old-cores", "new-cordoned"], ranked.Select(h => h.HostId));
    }

    [Fact]
    public void Equal_hosts_are_spread_differently_per_draining_host_and_the_same_every_time()
    {
        var hosts = Enumerable.Range(0, 50).Select(i => Host($"h-{i:D3}", fw: "3.0.0")).ToList();

        var ranking = new RankedHosts(hosts, "3.0.0");
        string[] FirstFive(string drainedHost) => [.. ranking.Walk(drainedHost).Take(5).Select(h => h.HostId)];

        Assert.Equal(FirstFive("h-900"), FirstFive("h-900"));
        var firsts = Enumerable.Range(900, 20).Select(i => FirstFive($"h-{i}")[0]).Distinct().Count();
        Assert.True(firsts >= 8, $"20 drains start on only {firsts} distinct hosts");
    }

    [Fact]
    public void Usage_sums_follow_copies_and_leave_equality_alone()
    {
        var host = Host("h", usedVcpus: 4, usedMem: 4096);
        Assert.Equal(4, host.UsedVcpus);
        Assert.Equal(60, host.FreeVcpus);

        var more = host with { Vms = host.Vms.Add("vm-2", new FleetPlacement(8, 8192)) };
        var reserved = more with { Reservations = more.Reservations.Add("mig-1", new FleetPlacement(2, 1024)) };

        Assert.Equal((12, 12288L), (more.UsedVcpus, more.UsedMemoryMiB));
        Assert.Equal((14, 13312L, 2, 1024L), (reserved.UsedVcpus, reserved.UsedMemoryMiB, reserved.ReservedVcpus, reserved.ReservedMemoryMiB));
        Assert.Equal(4, host.UsedVcpus);

        // A copy taken before its sums were read equals one after: the sums are not part of the record.
        var fresh = Host("h2", usedVcpus: 1, usedMem: 1);
        var copy = fresh with { };
        Assert.Equal(63, fresh.FreeVcpus);
        Assert.Equal(copy, fresh);
    }
}
