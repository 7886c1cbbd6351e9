using OrleansMigrate.Agents;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Grains.Operations;

/// <summary>
/// The decisions of one drain pass, as plain functions of what the pass read — so they are tested with tables, without a
/// cluster. <see cref="HostDrainGrain"/> does the reading and the acting (migration records, the scheduler, the owner
/// notice, choosing a destination) and asks this class what each answer means for a VM and for the drain.
/// </summary>
public static class DrainPass
{
    /// <summary>Passes a VM may be held back for its class's target before it is reported as unmovable now.</summary>
    public const int MaxHeldPasses = 100;

    /// <summary>Passes in a row (a minute) a VM found no destination before it is reported unmovable: room may free up
    /// meanwhile (other drains' migrations ending, hosts coming back from an upgrade).</summary>
    public const int NoDestinationPasses = 300;

    /// <summary>What an ended migration makes of its VM: moved when it completed; skipped when the drain is aborting;
    /// otherwise pending again for another attempt, or failed when the migration failed outright or the VM used up
    /// <paramref name="maxAttempts"/>.</summary>
    public static DrainVm AfterMigration(DrainVm vm, MigrationPhase phase, string? failure, bool aborting, int maxAttempts)
    {
        if (phase == MigrationPhase.Completed)
            return vm with { State = DrainVmState.Moved, Reason = null };
        var phaseName = Naming.EnumNames.Of(phase);
        if (aborting)
            return vm with { State = DrainVmState.Skipped, Reason = $"drain aborted; last migration {phaseName}: {failure}" };
        var failed = vm.Attempts >= maxAttempts || phase == MigrationPhase.Failed;
        return vm with
        {
            State = failed ? DrainVmState.Failed : DrainVmState.Pending,
            Reason = $"migration {vm.MigrationId} {phaseName}: {failure}",
        };
    }

    /// <summary>A VM whose migration is neither queued nor started (the scheduler dropped it: its VM was gone when its turn
    /// came): pending again, so the next pass sees whether the VM is still on the host.</summary>
    public static DrainVm Dropped(DrainVm vm) =>
        vm with { State = DrainVmState.Pending, MigrationId = null, Reason = $"migration {vm.MigrationId} was dropped before it started" };

    /// <summary>Where a drain ends once no VM is pending or migrating; null while one is. Aborting → aborted; every VM
    /// moved (or skipped) → completed, the host goes into maintenance; any unmovable or failed VM → incomplete, the host
    /// stays cordoned.</summary>
    public static (DrainState State, string? Note)? Outcome(IReadOnlyCollection<DrainVm> vms, DrainState current, string? note)
    {
        if (vms.Any(v => v.State is DrainVmState.Pending or DrainVmState.Migrating))
            return null;
        if (current == DrainState.Aborting)
            return (DrainState.Aborted, note);
        var stuck = vms.Count(v => v.State is DrainVmState.Unmovable or DrainVmState.Failed);
        return stuck == 0
            ? (DrainState.Completed, $"{vms.Count(v => v.State == DrainVmState.Moved)} VM(s) moved; host empty, in maintenance")
            : (DrainState.Incomplete, $"{stuck} VM(s) could not move; host stays cordoned");
    }

    /// <summary>The order a pass submits pending VMs in: with predictions, the quickest migrations first (slots turn over,
    /// the drain keeps moving); then the largest first — they are the hardest to place, and they free the most; then by id.</summary>
    public static IEnumerable<DrainVm> SubmitOrder(IEnumerable<DrainVm> pending, Func<string, double?> predictedTotalMs, Func<string, long> memoryMiB) =>
        pending.OrderBy(v => predictedTotalMs(v.VmId) ?? double.MaxValue)
            .ThenByDescending(v => memoryMiB(v.VmId))
            .ThenBy(v => v.VmId, StringComparer.Ordinal);

    /// <summary>A pending VM that is no longer this host's to move: deleted, or moved by someone else (both end as moved);
    /// null while it is still on <paramref name="hostId"/>.</summary>
    /// <param name="record">The VM's record; null when it was deleted.</param>
    public static DrainVm? Gone(DrainVm vm, VmRecord? record, string hostId) =>
        record is null || record.HostId != hostId
            ? vm with { State = DrainVmState.Moved, Reason = record is null ? "deleted" : $"moved to {record.HostId} outside the drain" }
            : null;

    /// <summary>What a pending VM still on the host is before a destination is chosen for it: <c>Vm</c> is the VM as it
    /// stays this pass (its reason says why), or null when it should move now. In order: not movable now by its policy
    /// (unmovable; a VM that cannot move live but whose policy allows cold moves is judged by
    /// <see cref="DestinationSelector.NotColdMovable"/> instead, and moves cold); its class's target unmeetable per the preflight prediction (held — <c>HeldForTarget</c> is true and
    /// the caller counts the pass —, unmovable after <see cref="MaxHeldPasses"/>); outside its class's maintenance window
    /// (held, no pass counted).</summary>
    /// <param name="unmeetable">Why the policy's target cannot be met per the prediction (see <see cref="Unmeetable"/>);
    /// null when it can or there is none.</param>
    /// <param name="heldPasses">Passes this VM was held for its target before this one.</param>
    public static (DrainVm? Vm, bool HeldForTarget) Hold(DrainVm vm, VmRecord record, MigrationPolicy policy, string? unmeetable, int heldPasses, DateTimeOffset now)
    {
        var refusal = DestinationSelector.MovesCold(record.Spec, policy)
            ? DestinationSelector.NotColdMovable(record, policy)
            : DestinationSelector.NotMovableNow(record, policy);
        if (refusal?.Reason is { } why)
        {
            // Said in full when a cold move could have taken it but its policy never allows one.
            var never = policy.ColdMove == ColdMove.Never && DestinationSelector.NotLiveMovable(record.Spec, policy) is not null
                ? $"; policy '{policy.Name}' never moves it cold (ColdMove=never)" : "";
            return (vm with { State = DrainVmState.Unmovable, Reason = why + never }, false);
        }

        if (unmeetable is not null)
        {
            var held = heldPasses + 1;
            return (vm with
            {
                State = held >= MaxHeldPasses ? DrainVmState.Unmovable : DrainVmState.Pending,
                Reason = held >= MaxHeldPasses ? $"its class's target cannot be met now: {unmeetable}" : $"held back by preflight: {unmeetable}",
            }, true);
        }

        // Held back, not refused: it moves when its class's maintenance window opens.
        return (policy.InWindow(now) ? null : vm with { Reason = $"waiting for the maintenance window {policy.MaintenanceWindowUtc} UTC of policy '{policy.Name}'" }, false);
    }

    /// <summary>A VM no host could take this pass: pending with every refusal (the first 8) as its reason, unmovable after
    /// <see cref="NoDestinationPasses"/> passes in a row.</summary>
    public static DrainVm NoDestination(DrainVm vm, int passes, IEnumerable<KeyValuePair<string, string>> refusals) =>
        vm with
        {
            State = passes >= NoDestinationPasses ? DrainVmState.Unmovable : DrainVmState.Pending,
            Reason = "no host can take it: " + string.Join("; ", refusals.Take(8).Select(r => $"{r.Key}: {r.Value}")),
        };

    /// <summary>Why a policy's target cannot be met per the prediction, for a policy that aborts rather than throttle or
    /// force; else null.</summary>
    public static string? Unmeetable(MigrationPolicy policy, PreflightPrediction p)
    {
        if (policy.OnStall != StallAction.Abort && policy.OnTimeout != TimeoutAction.Abort)
            return null;
        if (!p.ConvergesWithoutThrottling || p.Outcome != "converges")
            return $"it would not converge now ({p.DirtyBytesPerSecond / 1e6:0.#} MB/s dirtied; {p.Reason}) and policy '{policy.Name}' aborts rather than throttle";
        return p.DowntimeWithinTarget ? null : $"its predicted downtime {p.DowntimeMs:0.#} ms is above the target {policy.DowntimeTargetMs:0.#} ms of policy '{policy.Name}'";
    }
}
