using System.Collections.Immutable;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Tests.Placement;

/// <summary>The placement rules, table-driven: every reason a destination is refused, and the choice among the allowed.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DestinationSelectorTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 26, 0, 0, 0, TimeSpan.Zero);

    private static HostRecord Host(string id, int cores = 32, long mem = 131072, string fw = "2.0.0", string hv = "7.2.0", string[]? features = null,
        SchedulingState scheduling = SchedulingState.Schedulable, HostHealth health = HostHealth.Ok, (int Vcpus, long Mem)? used = null, (int Vcpus, long Mem)? reserved = null) =>
        new(new HostSpec(id, cores, mem, "Xeon", [.. features ?? ["avx", "avx2"]], 3, fw, "6.1.0", hv, ImmutableDictionary<string, string>.Empty),
            health, scheduling,
            used is { } u ? ImmutableDictionary<string, OrleansMigrate.Fleet.Placement>.Empty.Add("other", new OrleansMigrate.Fleet.Placement(u.Vcpus, u.Mem)) : ImmutableDictionary<string, OrleansMigrate.Fleet.Placement>.Empty,
            reserved is { } r ? ImmutableDictionary<string, OrleansMigrate.Fleet.Placement>.Empty.Add("mig-x", new OrleansMigrate.Fleet.Placement(r.Vcpus, r.Mem)) : ImmutableDictionary<string, OrleansMigrate.Fleet.Placement>.Empty,
            At);

    private static VmRecord Vm(string id = "vm-1", int vcpus = 4, long mem = 16384, string[]? features = null, string? group = null) =>
        new(new VmSpec(id, vcpus, mem, [.. features ?? ["avx2"]], "standard",
            group is null ? ImmutableDictionary<string, string>.Empty : ImmutableDictionary<string, string>.Empty.Add(DestinationSelector.AntiAffinityLabel, group), [], [], []),
            "src", PowerState.Running, At);

    public static TheoryData<string, HostRecord, string[], string?> Cases => new()
    {
        { "allowed", Host("dst"), [], null },
        { "same host", Host("src"), [], "current host" },
        { "cordoned", Host("dst", scheduling: SchedulingState.Cordoned), [], "cordoned" },
        { "draining", Host("dst", scheduling: SchedulingState.Draining), [], "draining" },
        { "maintenance", Host("dst", scheduling: SchedulingState.Maintenance), [], "maintenance" },
        { "degraded", Host("dst", health: HostHealth.Degraded), [], "degraded" },
        { "missing CPU feature", Host("dst", features: ["avx"]), [], "avx2" },
        { "older firmware", Host("dst", fw: "1.9.9"), [], "firmware 1.9.9 is older" },
        { "older hypervisor", Host("dst", hv: "7.1.0"), [], "hypervisor 7.1.0 is older" },
        { "newer firmware", Host("dst", fw: "2.1.0"), [], null },
        { "no cores after reservations", Host("dst", cores: 8, reserved: (6, 1024)), [], "2 cores free" },
        { "no memory", Host("dst", mem: 20000, used: (1, 8192)), [], "MiB free" },
        { "anti-affinity peer", Host("dst"), ["web"], "anti-affinity group 'web'" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_candidate_is_refused_for_exactly_the_rule_it_breaks(string name, HostRecord candidate, string[] peersOnCandidate, string? refusal)
    {
        var source = Host("src", fw: "2.0.0");
        var vm = Vm(group: "web");
        var peers = peersOnCandidate.Select((g, i) => Vm($"peer-{i}", group: g) with { HostId = candidate.HostId }).ToList();

        var why = DestinationSelector.Refusal(vm, source, candidate, peers, MigrationPolicy.BuiltIn["standard"]);

        if (refusal is null)
        {
            Assert.True(why is null, $"{name}: refused with '{why}'");
        }
        else
        {
            Assert.True(why?.Contains(refusal, StringComparison.Ordinal) == true, $"{name}: expected a refusal containing '{refusal}', got '{why}'");
        }
    }

    [Fact]
    public void The_any_version_policy_allows_an_older_firmware_and_the_choice_prefers_the_most_free_memory()
    {
        var source = Host("src", fw: "2.0.0");
        var older = Host("old", fw: "1.0.0");
        Assert.Null(DestinationSelector.Refusal(Vm(), source, older, [], MigrationPolicy.BuiltIn["any-version"]));

        var (best, refusals) = DestinationSelector.Choose(Vm(), source, [source, Host("a", used: (4, 65536)), Host("b", used: (4, 8192)), Host("c", fw: "1.0.0")],
            _ => [], MigrationPolicy.BuiltIn["standard"]);

        Assert.Equal("b", best!.HostId);
        Assert.Equal(["c", "src"], refusals.Keys.ToArray());
    }

    public static TheoryData<string, string, string, PowerState, string?, string?> MovableCases => new()
    {
        // name, policy, pass-through device (or ""), power, field refused (null: movable), reason contains
        { "standard, running", "standard", "", PowerState.Running, null, null },
        { "a policy that never live-migrates", "passthrough", "", PowerState.Running, "policy", "policy 'passthrough' never live-migrates it" },
        { "a pass-through device", "standard", "0000:3b:00.0", PowerState.Running, "vm", "pass-through devices (0000:3b:00.0 gpu)" },
        { "stopped", "standard", "", PowerState.Stopped, "vm", "it is stopped, not running" },
        { "paused", "standard", "", PowerState.Paused, "vm", "it is paused, not running" },
        { "unknown", "standard", "", PowerState.Unknown, "vm", "it is unknown, not running" },
        { "the policy is named before the power", "passthrough", "", PowerState.Stopped, "policy", "never live-migrates" },
    };

    [Theory]
    [MemberData(nameof(MovableCases))]
    public void Whether_a_VM_may_move_is_one_rule_for_the_scheduler_the_drain_and_the_preflight(
        string name, string policy, string device, PowerState power, string? field, string? reason)
    {
        var vm = Vm() with { Power = power };
        if (device.Length > 0)
        {
            vm = vm with { Spec = vm.Spec with { PassthroughDevices = [new PassthroughDevice(device, "gpu")] } };
        }

        var now = DestinationSelector.NotMovableNow(vm, MigrationPolicy.BuiltIn[policy]);
        var ever = DestinationSelector.NotLiveMovable(vm.Spec, MigrationPolicy.BuiltIn[policy]);

        Assert.True(now?.Field == field, $"{name}: refused on '{now?.Field}' ({now?.Reason}), expected '{field}'");
        Assert.True(reason is null || now!.Reason.Contains(reason, StringComparison.Ordinal), $"{name}: '{now?.Reason}' lacks '{reason}'");

        // The scheduler's submit asks only what never changes (power is the Prepare entry standard's, asked of the agent).
        Assert.Equal(power == PowerState.Running || field == "policy" || device.Length > 0 ? now : null, ever);
    }

    [Fact]
    public void The_best_host_rule_is_free_memory_then_free_cores()
    {
        var roomy = Host("a", used: (16, 8192));
        var cores = Host("b", used: (4, 8192));
        var tight = Host("c", used: (1, 65536));

        Assert.True(DestinationSelector.CompareRoom(cores, roomy) > 0);
        Assert.True(DestinationSelector.CompareRoom(roomy, tight) > 0);
        Assert.Equal(0, DestinationSelector.CompareRoom(Host("x"), Host("y")));
        Assert.True(DestinationSelector.TakesVms(Host("x")));
        Assert.False(DestinationSelector.TakesVms(Host("x", health: HostHealth.Degraded)));
        Assert.False(DestinationSelector.TakesVms(Host("x", scheduling: SchedulingState.Draining)));
    }
}
