using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Operations;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// The cold move (<see cref="MigrationRequest.Cold"/>): a VM that cannot be live-migrated is shut down, its disks and
/// flows handed over, and started on the destination. It runs the migration's own phases, records, history and rollback
/// — prepare (capacity reserved, the owner told, each disk opened read-only on the destination), switchover (the guest
/// shut down, gracefully then hard after the policy's timeout; each disk taken over at a new fencing generation, as in a
/// live switchover; the flows re-pointed; the VM started on the destination: the commit point), post-migration (records
/// moved, the source's disk handles closed) — so <c>omig migration show</c>, the history and the invariant auditor see it
/// like any other. Its downtime is stopped-on-the-source to running-on-the-destination. Before the commit point a
/// failure restarts it on the source with its disks and flows handed back.
/// </summary>
public sealed partial class MigrationGrain
{
    /// <summary>How long one long poll of the source's shutdown lasts, in ms (well inside a grain call's timeout).</summary>
    private const int ShutdownPollMs = 5_000;

    private bool Cold => S.Request!.Cold;

    /// <summary>Prepare of a cold move: the VM is running or stopped on the source and no other migration has it; capacity
    /// reserved on the destination; the owner told (a VM that is shut down is never moved behind its owner's back: a
    /// notice that fails rolls the move back before anything stopped); each disk opened read-only on the destination, the
    /// slow open done before the guest stops.</summary>
    private async Task ColdPrepareAsync()
    {
        await Transient("prepare", () => Fault(Faults.FaultSteps.MigrationPrepare));
        if (S.Cold is null)
        {
            var record = await GrainFactory.GetGrain<IVmGrain>(Vm.VmId).GetAsync()
                ?? throw OmigException.NotFound("vm", $"VM '{Vm.VmId}' does not exist");
            if (DestinationSelector.NotColdMovable(record, Policy) is { } refusal)
            {
                throw new OmigException(OmigErrorCode.Conflict, refusal.Field, $"VM '{Vm.VmId}' cannot be moved cold: {refusal.Reason}");
            }

            if (record.HostId != S.SourceHost)
            {
                throw OmigException.Conflict("vm", $"VM '{Vm.VmId}' is on {record.HostId}, not on the source {S.SourceHost}");
            }

            S.Cold = new ColdMoveReport(record.Power == PowerState.Running, null, Policy.ColdShutdownTimeoutMs);
        }

        var unmet = new List<string>();
        if (S.Cold.WasRunning)
        {
            unmet.AddRange(await UnmetAsync(EntryCheck.VmRunsOnSource, null));
        }

        unmet.AddRange(await UnmetAsync(EntryCheck.NoOtherMigrationOfVm, null));
        if (unmet.Count > 0)
        {
            throw new OmigException(OmigErrorCode.Conflict, null, $"entry standard of {MigrationPhase.Prepare} not met: {string.Join("; ", unmet)}");
        }

        await Transient("reserve", () => GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).ReserveAsync(Id, Vm));
        if (!S.Cold.OwnerNotified)
        {
            var notice = new OwnerNotice(Vm.VmId, OwnerNotifier.OwnerOf(Vm),
                $"cold move {Id} from {S.SourceHost} to {S.DestinationHost} ({S.Request!.RequestedBy}): the VM is shut down and started again there", Policy.Name, time.GetUtcNow());
            try
            {
                await ServiceProvider.GetRequiredService<IOwnerNotifier>().NotifyAsync(notice, CancellationToken.None);
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
            {
                throw new OmigException(OmigErrorCode.Aborted, null, $"the owner notice failed ({ex.Message}); the VM was not stopped");
            }

            S.Cold = S.Cold with { OwnerNotified = true };
        }

        await Task.WhenAll(Vm.Disks.Select(d => Transient($"disk {d.DiskId} open-read-only",
            () => GrainFactory.GetGrain<ICloudDiskGrain>(d.DiskId).OpenReadOnlyAsync(S.DestinationHost))));
        await SaveAsync();
    }

    /// <summary>The cold switchover: the guest shut down on the source (its stop persisted, so a re-drive never takes it for
    /// running), each disk taken over by the destination at a new fencing generation (the source's handle is fenced: the
    /// same take-over as a live switchover's), each NIC's flow re-pointed, and the VM started on the destination — the
    /// commit point. A VM that was stopped is only handed over and stays stopped.</summary>
    private async Task ColdSwitchoverAsync()
    {
        if (S.CancelReason is { } cancel)
        {
            throw new MigrationCancelledException(cancel);
        }

        await Fault(Faults.FaultSteps.MigrationSwitchover);
        var steps = ImmutableDictionary.CreateBuilder<string, double>(StringComparer.Ordinal);
        var cold = S.Cold!;
        if (cold.WasRunning && cold.StoppedAtUtc is null)
        {
            // Recorded stopped before the guest stops: a host agent that reactivates meanwhile boots every VM registered
            // running on its host without an instance there, and would start this one beside the destination's.
            await Retry("mark-vm-stopped", () => GrainFactory.GetGrain<IVmGrain>(Vm.VmId).SetPowerAsync(PowerState.Stopped));
            var timeoutMs = (int)Math.Clamp(cold.ShutdownTimeoutMs, 0, 600_000);
            ShutdownReport? stopped;
            while ((stopped = await Source("shut the guest down (cold move)", a => a.ShutdownForMoveAsync(Id, Vm.VmId, timeoutMs, ShutdownPollMs))) is null)
            {
                DelayDeactivation(TimeSpan.FromMinutes(10));
            }

            // A replay whose guest had stopped already (WasRunning false) keeps what it can: the stop is now at the latest.
            S.Cold = cold = cold with
            {
                Graceful = stopped.WasRunning ? stopped.Graceful : cold.Graceful,
                ShutdownMs = stopped.WasRunning ? stopped.ShutdownMs : cold.ShutdownMs,
                StoppedAtUtc = stopped.StoppedAtUtc,
            };
            await SaveAsync();
        }

        var handover = time.GetTimestamp();
        await Task.WhenAll(Vm.Disks.Select(d => Step($"disk {d.DiskId} take-over",
            () => GrainFactory.GetGrain<ICloudDiskGrain>(d.DiskId).TakeOverAsync(S.DestinationHost))));
        steps["disk take-over"] = Math.Round(time.GetElapsedTime(handover).TotalMilliseconds, 3);
        var repoint = time.GetTimestamp();
        await Task.WhenAll(Vm.Nics.Select(n => Step($"flow {n.Ip} repoint",
            () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).RepointFlowAsync(n.Ip, Vm.VmId, S.DestinationHost))));
        steps["flows repoint"] = Math.Round(time.GetElapsedTime(repoint).TotalMilliseconds, 3);
        if (S.CancelReason is { } late)
        {
            throw new MigrationCancelledException(late);
        }

        var startedAt = time.GetTimestamp();
        var now = time.GetUtcNow();
        var running = cold.WasRunning ? await Destination("start the VM (cold move)", a => a.StartMovedAsync(Id, Vm)) : now;

        // Committed: the VM runs on the destination (or, stopped, is handed over). From here it only rolls forward.
        steps["start"] = Math.Round(time.GetElapsedTime(startedAt).TotalMilliseconds, 3);
        if (cold.ShutdownMs is { } shutdownMs)
        {
            steps["shutdown"] = Math.Round(shutdownMs, 3);
        }

        S.Cold = cold = cold with { RunningAtUtc = cold.WasRunning ? running : null };
        S.Downtime = new DowntimeReport(cold.DowntimeMs ?? 0, 0, 0, 0, 0, 0, steps.ToImmutable())
        {
            // The shutdown polls, each disk's take-over, each flow's re-point and the start.
            CriticalPathCalls = 1 + Vm.Disks.Length + Vm.Nics.Length + (cold.WasRunning ? 1 : 0),
        };
        await MoveAsync(MigrationPhase.PostMigration);
    }

    /// <summary>After the cold move's commit point, retried until done: the reservation turned into the placement, the
    /// VM's record moved, the source's (already stopped) instance removed, the source's disk handles closed, the
    /// location-bound services told.</summary>
    private async Task ColdRollForwardAsync()
    {
        await Retry("commit-reservation", () => GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).CommitReservationAsync(Id, Vm));
        await Retry("move-vm-record", () => GrainFactory.GetGrain<IVmGrain>(Vm.VmId).MoveAsync(S.DestinationHost));
        if (S.Cold is { WasRunning: true })
        {
            // Running again, now on the destination (recorded stopped for the move).
            await Retry("mark-vm-running", () => GrainFactory.GetGrain<IVmGrain>(Vm.VmId).SetPowerAsync(PowerState.Running));
        }

        await Retry("unplace-source", () => GrainFactory.GetGrain<IHostGrain>(S.SourceHost).RemoveVmAsync(Vm.VmId));
        await Task.WhenAll(Vm.Nics.Select(n => Retry($"flow {n.Ip} repoint",
            () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).RepointFlowAsync(n.Ip, Vm.VmId, S.DestinationHost), retryConflict: true)));
        await Retry("destroy-source", () => Source("remove the source VM (roll-forward)", a => a.DestroyVmAsync(Vm.VmId)));
        await Task.WhenAll(Vm.Disks.Select(async d =>
        {
            var disk = GrainFactory.GetGrain<ICloudDiskGrain>(d.DiskId);
            await Retry($"disk {d.DiskId} take-over", () => disk.TakeOverAsync(S.DestinationHost));
            await Retry($"disk {d.DiskId} close source", () => disk.CloseAsync(S.SourceHost));
        }));
        await Retry("notify-location-services", () => ServiceProvider.GetRequiredService<ILocationServicesBackend>().NotifyMovedAsync(Id, Vm.VmId, S.SourceHost, S.DestinationHost));
        await ResolveVmPowerAsync();
    }

    /// <summary>Before the cold move's commit point: the destination's instance removed first (so it can never run beside
    /// the source), each disk writable on the source alone again (a new fencing generation when the destination had taken
    /// it), the flows pointed back at the source, the VM started again on the source if it ran before, the reservation
    /// released.</summary>
    private async Task ColdRollBackAsync()
    {
        if (S.Cold is null)
        {
            // Refused before anything was done (the VM not cold-movable, or not on the source): nothing to undo. Undoing
            // anyway would hand a disk that another host holds back to the source and point its flows there. The release is
            // idempotent and covers a re-drive whose reservation was made but whose S.Cold was never stored.
            await Retry("release-reservation", () => GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).ReleaseAsync(Id));
            await MoveAsync(MigrationPhase.RolledBack);
            Ended(S.CancelReason is not null && S.Failure is null ? "cancelled" : "rolled_back");
            return;
        }

        await Retry("destroy-destination", () => Destination("remove the destination VM (rollback)", a => a.DestroyVmAsync(Vm.VmId)));
        await Task.WhenAll(Vm.Disks.Select(d => Retry($"disk {d.DiskId} restore source", () => GrainFactory.GetGrain<ICloudDiskGrain>(d.DiskId).RestoreWriterAsync(S.SourceHost))));
        await Task.WhenAll(Vm.Nics.Select(n => Retry($"flow {n.Ip} restore",
            () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).RepointFlowAsync(n.Ip, Vm.VmId, S.SourceHost), retryConflict: true)));
        if (S.Cold is { WasRunning: true })
        {
            // Starting is idempotent: a guest whose shutdown never began keeps running; one that stopped boots again from
            // the disks just handed back (the agent's VM lock orders this after a shutdown still in progress).
            await Retry("restart-source", () => Source("start the VM again on the source (rollback)", a => a.StartVmAsync(Vm)));
            await Retry("mark-vm-running", () => GrainFactory.GetGrain<IVmGrain>(Vm.VmId).SetPowerAsync(PowerState.Running));
        }

        await Retry("release-reservation", () => GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).ReleaseAsync(Id));
        await ResolveVmPowerAsync();
        await MoveAsync(MigrationPhase.RolledBack);
        Ended(S.CancelReason is not null && S.Failure is null ? "cancelled" : "rolled_back");
    }
}
