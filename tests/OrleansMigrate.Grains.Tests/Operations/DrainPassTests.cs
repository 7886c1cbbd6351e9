using System.Collections.Immutable;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Grains.Operations;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Tests.Operations;

/// <summary>The drain pass's decisions, table-driven, without a cluster: what an ended migration makes of its VM, when
/// a drain ends and how, the submit order, and why a pending VM stays this pass.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DrainPassTests
{
    private static readonly DateTimeOffset Noon = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    private static VmRecord Record(string id = "vm-1", string host = "h-1", string vmClass = "standard", string[]? passthrough = null, PowerState power = PowerState.Running) =>
        new(new VmSpec(id, 2, 4096, [], vmClass, ImmutableDictionary<string, string>.Empty, [], [], [.. (passthrough ?? []).Select(a => new PassthroughDevice(a, "gpu"))]), host, power, Noon);

    public static TheoryData<string, MigrationPhase, bool, int, DrainVmState, string?> AfterMigrationCases => new()
    {
        // name, phase the migration ended in, drain aborting, attempts so far (max 3), VM state after, reason contains
        { "completed", MigrationPhase.Completed, false, 1, DrainVmState.Moved, null },
        { "completed while aborting still counts as moved", MigrationPhase.Completed, true, 1, DrainVmState.Moved, null },
        { "rolled back, attempts left: tried again", MigrationPhase.RolledBack, false, 1, DrainVmState.Pending, "rolled_back: dest died" },
        { "rolled back, attempts used up", MigrationPhase.RolledBack, false, 3, DrainVmState.Failed, "rolled_back" },
        { "failed outright: not retried", MigrationPhase.Failed, false, 1, DrainVmState.Failed, "failed" },
        { "rolled back while aborting: skipped", MigrationPhase.RolledBack, true, 1, DrainVmState.Skipped, "drain aborted; last migration rolled_back" },
    };

    [Theory]
    [MemberData(nameof(AfterMigrationCases))]
    public void An_ended_migration_decides_its_VM(string name, MigrationPhase phase, bool aborting, int attempts, DrainVmState expected, string? reason)
    {
        var vm = new DrainVm("vm-1", DrainVmState.Migrating, "mig-1", "h-2", Attempts: attempts);

        var after = DrainPass.AfterMigration(vm, phase, "dest died", aborting, maxAttempts: 3);

        Assert.True(after.State == expected, $"{name}: {after.State}");
        if (reason is null)
            Assert.Null(after.Reason);
        else
            Assert.Contains(reason, after.Reason);
        Assert.Equal(attempts, after.Attempts);
    }

    [Fact]
    public void A_dropped_migration_makes_its_VM_pending_again_without_the_id()
    {
        var after = DrainPass.Dropped(new DrainVm("vm-1", DrainVmState.Migrating, "mig-7", "h-2", Attempts: 1));
        Assert.Equal(DrainVmState.Pending, after.State);
        Assert.Null(after.MigrationId);
        Assert.Contains("mig-7", after.Reason);
    }

    public static TheoryData<string, DrainVmState[], DrainState, DrainState?, string?> OutcomeCases => new()
    {
        // name, VM states, drain state now, outcome (null: goes on), note contains
        { "a VM still pending", [DrainVmState.Moved, DrainVmState.Pending], DrainState.Running, null, null },
        { "a VM still migrating while aborting", [DrainVmState.Migrating], DrainState.Aborting, null, null },
        { "all moved", [DrainVmState.Moved, DrainVmState.Moved], DrainState.Running, DrainState.Completed, "2 VM(s) moved" },
        { "empty host", [], DrainState.Running, DrainState.Completed, "0 VM(s) moved" },
        { "one unmovable", [DrainVmState.Moved, DrainVmState.Unmovable], DrainState.Running, DrainState.Incomplete, "1 VM(s) could not move" },
        { "one failed", [DrainVmState.Failed, DrainVmState.Unmovable], DrainState.Running, DrainState.Incomplete, "2 VM(s) could not move" },
        { "aborting, nothing in flight", [DrainVmState.Skipped, DrainVmState.Moved], DrainState.Aborting, DrainState.Aborted, "kept note" },
    };

    [Theory]
    [MemberData(nameof(OutcomeCases))]
    public void A_drain_ends_when_nothing_is_pending_or_in_flight(string name, DrainVmState[] states, DrainState now, DrainState? expected, string? note)
    {
        var vms = states.Select((s, i) => new DrainVm($"vm-{i}", s)).ToList();

        var outcome = DrainPass.Outcome(vms, now, "kept note");

        Assert.True(outcome?.State == expected, $"{name}: {outcome?.State}");
        if (note is not null)
            Assert.Contains(note, outcome!.Value.Note);
    }

    [Fact]
    public void Pending_VMs_are_submitted_quickest_first_then_largest_then_by_id()
    {
        var pending = new[] { "a", "b", "c", "d", "e" }.Select(id => new DrainVm(id, DrainVmState.Pending));
        var predicted = new Dictionary<string, double> { ["c"] = 900, ["e"] = 100 };
        var memory = new Dictionary<string, long> { ["a"] = 1024, ["b"] = 8192, ["d"] = 8192 };

        var order = DrainPass.SubmitOrder(pending, id => predicted.TryGetValue(id, out var ms) ? ms : null, id => memory.GetValueOrDefault(id)).Select(v => v.VmId);

        Assert.Equal(["e", "c", "b", "d", "a"], order);
    }

    public static TheoryData<string, string?, string, DrainVmState?, string?> GoneCases => new()
    {
        // name, the VM record's host (null: deleted), drain host, state (null: still here), reason contains
        { "still here", "h-1", "h-1", null, null },
        { "deleted", null, "h-1", DrainVmState.Moved, "deleted" },
        { "moved by someone else", "h-9", "h-1", DrainVmState.Moved, "moved to h-9 outside the drain" },
    };

    [Theory]
    [MemberData(nameof(GoneCases))]
    public void A_VM_no_longer_on_the_host_counts_as_moved(string name, string? recordHost, string drainHost, DrainVmState? expected, string? reason)
    {
        var gone = DrainPass.Gone(new DrainVm("vm-1", DrainVmState.Pending), recordHost is null ? null : Record(host: recordHost), drainHost);

        Assert.True(gone?.State == expected, $"{name}: {gone?.State}");
        if (reason is not null)
            Assert.Contains(reason, gone!.Reason);
    }

    private static PreflightPrediction Prediction(bool converges = true, bool withinTarget = true) =>
        new("sampled", 5e6, 200, 4L << 30, 3, 1200, withinTarget ? 20 : 400, converges, withinTarget, converges ? "converges" : "stalls", 1L << 30, "dirty rate");

    public static TheoryData<string, string, string[], DateTimeOffset, bool, bool, int, DrainVmState?, bool, string?> HoldCases => new()
    {
        // name, policy, pass-through devices, now, preflight: converges, within target, passes held before,
        // state it stays in (null: moves now), counted as held for its target, reason contains
        { "standard, in reach: moves", "standard", [], Noon, true, true, 0, null, false, null },
        { "pass-through class, cold moves allowed: moves (cold)", "passthrough", [], Noon, true, true, 0, null, false, null },
        { "pass-through device, cold moves allowed: moves (cold)", "standard", ["0000:3b:00.0"], Noon, true, true, 0, null, false, null },
        { "pass-through class, an unmeetable prediction does not hold a cold move", "passthrough", [], Noon, false, false, 0, null, false, null },
        { "pass-through device, critical never moves cold: unmovable", "critical", ["0000:3b:00.0"], Noon.AddHours(11), true, true, 0, DrainVmState.Unmovable, false, "never moves it cold" },
        { "pass-through device, critical, outside its window: unmovable all the same", "critical", ["0000:3b:00.0"], Noon, true, true, 0, DrainVmState.Unmovable, false, "pass-through" },
        { "critical, would not converge: held", "critical", [], Noon.AddHours(11), false, true, 0, DrainVmState.Pending, true, "held back by preflight: it would not converge" },
        { "critical, downtime over target: held", "critical", [], Noon.AddHours(11), true, false, 5, DrainVmState.Pending, true, "above the target" },
        { "critical, held the last pass: unmovable", "critical", [], Noon.AddHours(11), false, true, DrainPass.MaxHeldPasses - 1, DrainVmState.Unmovable, true, "cannot be met now" },
        { "standard ignores an unmeetable prediction (throttles instead)", "standard", [], Noon, false, false, 0, null, false, null },
        { "critical, in reach, outside its window: waits", "critical", [], Noon, true, true, 0, DrainVmState.Pending, false, "waiting for the maintenance window 22:00-06:00" },
        { "critical, in reach, inside its window: moves", "critical", [], Noon.AddHours(11), true, true, 0, null, false, null },
    };

    [Theory]
    [MemberData(nameof(HoldCases))]
    public void A_pending_VM_stays_this_pass_for_exactly_one_reason(string name, string policyName, string[] passthrough, DateTimeOffset now,
        bool converges, bool withinTarget, int heldBefore, DrainVmState? expected, bool heldForTarget, string? reason)
    {
        var policy = MigrationPolicy.BuiltIn[policyName];
        var record = Record(vmClass: policyName, passthrough: passthrough);
        // The drain asks for no prediction of a VM it moves cold (it has no pre-copy).
        var unmeetable = DestinationSelector.MovesCold(record.Spec, policy) ? null : DrainPass.Unmeetable(policy, Prediction(converges, withinTarget));

        var (stays, counted) = DrainPass.Hold(new DrainVm("vm-1", DrainVmState.Pending), record, policy, unmeetable, heldBefore, now);

        Assert.True(stays?.State == expected, $"{name}: {stays?.State} ({stays?.Reason})");
        Assert.True(counted == heldForTarget, $"{name}: counted {counted}");
        if (reason is not null)
            Assert.Contains(reason, stays!.Reason);
    }

    public static TheoryData<string, string, string?, PowerState, DateTimeOffset, DrainVmState?, string?> ColdHoldCases => new()
    {
        // name, policy, its window (null: the built-in's), VM power, now, state it stays in (null: moves now, cold), reason contains
        { "cold-movable, stopped: moves (cold takes a stopped VM)", "passthrough", null, PowerState.Stopped, Noon, null, null },
        { "cold-movable, lost: unmovable", "passthrough", null, PowerState.Lost, Noon, DrainVmState.Unmovable, "running or stopped" },
        { "cold-movable, outside its window: waits", "passthrough", "22:00-06:00", PowerState.Running, Noon, DrainVmState.Pending, "waiting for the maintenance window 22:00-06:00" },
        { "cold-movable, inside its window: moves", "passthrough", "22:00-06:00", PowerState.Running, Noon.AddHours(11), null, null },
    };

    [Theory]
    [MemberData(nameof(ColdHoldCases))]
    public void A_VM_that_cannot_move_live_moves_cold_inside_its_window_when_its_policy_allows(string name, string policyName, string? window, PowerState power,
        DateTimeOffset now, DrainVmState? expected, string? reason)
    {
        var policy = MigrationPolicy.BuiltIn[policyName] with { MaintenanceWindowUtc = window ?? MigrationPolicy.BuiltIn[policyName].MaintenanceWindowUtc };
        var record = Record(vmClass: policyName, power: power);

        var (stays, _) = DrainPass.Hold(new DrainVm("vm-1", DrainVmState.Pending), record, policy, null, 0, now);

        Assert.True(DestinationSelector.MovesCold(record.Spec, policy), name);
        Assert.True(stays?.State == expected, $"{name}: {stays?.State} ({stays?.Reason})");
        if (reason is not null)
            Assert.Contains(reason, stays!.Reason);
    }

    [Fact]
    public void No_destination_keeps_the_first_eight_refusals_and_gives_up_after_a_minute_of_passes()
    {
        var refusals = Enumerable.Range(0, 12).Select(i => KeyValuePair.Create($"h-{i:00}", "cordoned"));
        var vm = new DrainVm("vm-1", DrainVmState.Pending);

        var early = DrainPass.NoDestination(vm, 1, refusals);
        var late = DrainPass.NoDestination(vm, DrainPass.NoDestinationPasses, refusals);

        Assert.Equal(DrainVmState.Pending, early.State);
        Assert.Equal(DrainVmState.Unmovable, late.State);
        Assert.Contains("h-07: cordoned", early.Reason);
        Assert.DoesNotContain("h-08", early.Reason);
    }
}
