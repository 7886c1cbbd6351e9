using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

public sealed partial class MigrationGrain
{
    private static readonly TimeSpan PollWait = TimeSpan.FromSeconds(1);

    /// <summary>Tries of an idempotent step before the pause (<see cref="Transient{T}"/>).</summary>
    private const int TransientAttempts = 3;

    private VmSpec Vm => S.Vm!;

    /// <summary>Every mode but serial: the comparison modes are the parallel design with one technique left out.</summary>
    private bool Parallel => S.Request!.Mode.IsParallel();

    /// <summary>Whether this migration stages and enables a relay per NIC (not in serial or no-relay mode).</summary>
    private bool UsesRelay => S.Request!.Mode.UsesRelay();

    private MigrationPolicy Policy => policies.Value.Resolve(S.Request!.Policy);

    private async Task RunAsync()
    {
        _trace ??= MigrationTelemetry.Source.StartActivity("migration", ActivityKind.Internal, parentContext: default)
            ?.SetTag("omig.migration_id", Id).SetTag("omig.vm_id", S.Request!.VmId)
            .SetTag("omig.source", S.SourceHost).SetTag("omig.destination", S.DestinationHost).SetTag("omig.mode", S.Request.Mode.ToString());
        S.Attempts++;
        RememberAgentSilos();
        while (!MigrationPhases.IsEnded(S.Phase))
        {
            DelayDeactivation(TimeSpan.FromMinutes(10));
            try
            {
                switch (S.Phase)
                {
                    case MigrationPhase.Prepare when Cold:
                        await PhaseAsync("prepare", ColdPrepareAsync);
                        await MoveAsync(MigrationPhase.Switchover);
                        break;
                    case MigrationPhase.Switchover when Cold:
                        await PhaseAsync("switchover", ColdSwitchoverAsync);
                        break;
                    case MigrationPhase.Prepare:
                        await CheckEntryAsync(MigrationPhase.Prepare);
                        await PhaseAsync("prepare", PrepareAsync);
                        await CheckEntryAsync(MigrationPhase.PreCopy);
                        await MoveAsync(MigrationPhase.PreCopy);
                        break;
                    case MigrationPhase.PreCopy or MigrationPhase.PreLastCopy or MigrationPhase.Switchover:
                        var paused = await PreCopyAsync();
                        await SwitchoverAsync(paused);
                        break;
                    case MigrationPhase.PostMigration:
                        await PhaseAsync("post-migration", Cold ? ColdRollForwardAsync : RollForwardAsync);
                        if (S.Hypervisor?.PostCopyFailure is not null)
                        {
                            // Post-copy failed after the commit point: nothing to roll back, the VM is lost and recorded so.
                            await MoveAsync(MigrationPhase.Failed);
                            Ended("failed");
                            break;
                        }

                        await MoveAsync(MigrationPhase.Completed);
                        Ended("completed");
                        break;
                    case MigrationPhase.RollingBack:
                        await PhaseAsync("rollback", Cold ? ColdRollBackAsync : RollBackAsync);
                        break;
                }
            }
            catch (ActivationStoppingException)
            {
                // This activation is going away in the middle of a wait: the next one (reminder) carries on from the state.
                return;
            }
            catch (Exception ex) when (MigrationPhases.IsBeforeCommit(S.Phase))
            {
                var before = S.Failure;
                S.Failure ??= Describe(ex);
                LogRollingBack(logger, Id, S.Failure);
                try
                {
                    await MoveAsync(MigrationPhase.RollingBack);
                }
                catch
                {
                    // The rollback was not stored, so it did not happen (MoveAsync restored the phase): neither did
                    // its reason, or a migration re-driven from here to completion would end with a failure text.
                    S.Failure = before;
                    throw;
                }
            }
            catch (AgentWaitExpiredException expired) when (S.Phase == MigrationPhase.RollingBack && Cold)
            {
                // A cold move's rollback without one of its hosts: nothing can be restarted or torn down there.
                await FailAsync($"{S.Failure ?? S.CancelReason ?? "rolled back"}; the rollback waited its time for {expired.Wait.HostId}'s agent ({expired.Wait.Reason}): "
                    + $"the VM may be stopped; check its disks' writer and start it on {S.SourceHost} (omig vm start)");
                break;
            }
            catch (AgentWaitExpiredException expired) when (S.Phase == MigrationPhase.RollingBack)
            {
                // The rollback waited its time for an agent that never answered: undo what can be undone without
                // it and end failed, saying what the operator must do (or roll forward if the destination resumed).
                if (await GiveUpAsync(expired.Wait))
                {
                    break;
                }
            }
            catch (Exception ex) when (S.Phase is MigrationPhase.PostMigration or MigrationPhase.RollingBack)
            {
                // Roll-forward and rollback retry each step; when a step keeps failing the reminder re-drives
                // later. After the commit point that goes on until done. A rollback past its budget (its
                // source host is gone) fails loudly, frees what it holds and says the VM needs an operator.
                LogRetry(logger, Id, S.Phase.ToString(), S.Attempts, Describe(ex));
                if (S.Phase == MigrationPhase.RollingBack && S.Attempts >= MaxDriveAttempts)
                {
                    await FailAsync($"rollback could not finish after {S.Attempts} attempts ({Describe(ex)}); the VM may need a restart on {S.SourceHost}");
                    break;
                }

                await SaveAsync();
                return;
            }
        }

        await NotifySchedulerAsync();
    }

    private void Ended(string outcome)
    {
        // A cold move's downtime (a shutdown and a boot) is tagged apart, so it never skews the live migrations' figures.
        var mode = S.Request!.Cold ? "Cold" : S.Request.Mode.ToString();
        telemetry.Outcomes.Add(1, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("mode", mode));
        if (S.Downtime is { } d && outcome == "completed")
        {
            telemetry.Downtime.Record(d.DowntimeMs, new KeyValuePair<string, object?>("mode", mode));
        }

        telemetry.BytesMoved.Add(S.Progress.BytesSent);
        if (outcome == "completed")
        {
            telemetry.Succeeded.Add(1);
        }
        else if (outcome is "failed" or "rolled_back")
        {
            telemetry.Failed.Add(1);
        }

        telemetry.Untrack(Id);
        telemetry.Ended();
        _trace?.SetTag("omig.outcome", outcome).SetTag("omig.bytes_sent", S.Progress.BytesSent);
        _trace?.Dispose();
        _trace = null;
    }

    /// <summary>Tells the scheduler (its slot frees) and the drain that asked for it, if any (one-way: it looks at
    /// its migrations now instead of at its next tick).</summary>
    private async Task NotifySchedulerAsync()
    {
        try
        {
            // The scheduler first: the drain's next submissions then find the slot free.
            // Its shard: the one its id was drawn for (an id from before sharding: shard 0's sweep finds it ended).
            await SchedulerShards.Shard(GrainFactory, SchedulerShards.OfMigration(Id)).EndedAsync(Id);
            if (S.Request?.Drain is { } drain)
            {
                await GrainFactory.GetGrain<OrleansMigrate.Operations.IHostDrainGrain>(drain).WakeAsync();
            }
        }
        catch (Exception ex)
        {
            // The scheduler also sweeps ended migrations; a lost notification only delays a queued one.
            LogRetry(logger, Id, "notify-scheduler", 1, ex.Message);
        }
    }

    private async Task PrepareAsync()
    {
        await Transient("prepare", () => Fault(Faults.FaultSteps.MigrationPrepare));
        await Transient("reserve", () => GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).ReserveAsync(Id, Vm));

        // SR-IOV VFs hold state in the NIC, so they leave the guest before pre-copy (the guest falls back to its
        // other NICs) and come back as fresh VFs on the destination after the resume (RollForward).
        foreach (var device in DeviceRules.HotplugIds(Vm))
        {
            await Transient($"unplug {device}", async () =>
            {
                var ms = await Source($"unplug {device}", a => a.UnplugDeviceAsync(Vm.VmId, device));
                RecordDeviceStep(device, S.SourceHost, DeviceAction.Unplug, ms);
            });
        }

        S.Endpoint = await Transient("prepare-incoming", () => Destination("prepare the incoming VM", a => a.PrepareIncomingAsync(Id, Vm, Tuning)));
        if (Parallel)
        {
            // Slow cloud work before the freeze: open every disk read-only on the destination and stage the
            // relays (unless this mode leaves the relay out), all at once.
            var relays = UsesRelay ? Vm.Nics : [];
            await Task.WhenAll(
                Vm.Disks.Select(d => (Task)Transient($"disk {d.DiskId} open-read-only", async () =>
                {
                    var disk = GrainFactory.GetGrain<ICloudDiskGrain>(d.DiskId);
                    var record = await disk.OpenReadOnlyAsync(S.DestinationHost);
                    if (Parallel)
                    {
                        // Armed now, outside the downtime, so the take-over in the switchover writes its record after answering.
                        record = await disk.ArmTakeOverAsync(S.DestinationHost);
                    }

                    return record;
                }))
                .Concat(relays.Select(n => Transient($"relay {n.Ip} stage", () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).StageRelayAsync(n.Ip, S.SourceHost, S.DestinationHost, Id)))));
        }

        await SaveAsync();
    }

    /// <summary>An idempotent step before the VM pauses (nothing is frozen yet): a transient failure is tried again,
    /// twice, after 20 and 60 ms, before it rolls the migration back — "almost every time some component will not
    /// return what you expected", and most of those answers are momentary. Refusals (not found, conflict, invalid,
    /// incompatible, no capacity) and a cancel are not retried. Never used inside the downtime.</summary>
    private async Task<T> Transient<T>(string name, Func<Task<T>> action)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await Step(name, action);
            }
            catch (Exception ex) when (attempt < TransientAttempts && S.CancelReason is null
                                       && ex is not OmigException { Code: OmigErrorCode.NotFound or OmigErrorCode.Conflict or OmigErrorCode.InvalidArgument or OmigErrorCode.Incompatible or OmigErrorCode.InsufficientCapacity })
            {
                LogRetry(logger, Id, name, attempt, Describe(ex));
                await Task.Delay(TimeSpan.FromMilliseconds(attempt == 1 ? 20 : 60));
            }
        }
    }

    private Task Transient(string name, Func<Task> action) => Transient(name, async () =>
    {
        await action();
        return true;
    });

    /// <summary>The data-plane settings of this migration, from its policy: the source starts pre-copy with them and the
    /// destination is prepared with them (QEMU's multifd channels must match on both sides).</summary>
    private MigrationTuning Tuning => TuningFor(Policy.Tuning(Vm.MemoryMiB > int.MaxValue ? int.MaxValue : (int)Vm.MemoryMiB), S.Request!.Mode) with
    {
        RelayIps = UsesRelay && S.Request!.Mode.IsParallel() ? [.. Vm.Nics.Select(n => n.Ip)] : null,
    };

    /// <summary>The policy's data-plane settings as <paramref name="mode"/> runs them: the final copy starts at the pause
    /// in every parallel mode, and the destination takes no sessions in no-session-copy mode.</summary>
    internal static MigrationTuning TuningFor(MigrationTuning policy, OrchestrationMode mode) =>
        policy with { ContinueAtPause = mode.IsParallel(), SkipSessionCopy = !mode.CopiesSessions() };

    /// <summary>Runs pre-copy and the pre-last-copy stage until the source VM pauses; returns the pause time.</summary>
    private async Task<OutgoingSnapshot> PreCopyAsync()
    {
        await Transient("precopy", () => Fault(Faults.FaultSteps.MigrationPreCopy));
        await Transient("start-outgoing", () => Source("start pre-copy", a => a.StartOutgoingAsync(Id, Vm.VmId, S.Endpoint!, Tuning)));
        var bestRemaining = long.MaxValue;
        var lastProgress = time.GetTimestamp();
        var forced = false;
        var operatorForced = false;
        var target = Policy.DowntimeTargetMs;
        while (true)
        {
            if (S.CancelReason is { } cancel)
            {
                throw new MigrationCancelledException(cancel);
            }

            // An operator's force-complete takes the same path as the stall detector's force below: the data plane
            // stops iterating at the end of its current round.
            if (S.ForceCompleteBy is not null && !operatorForced)
            {
                operatorForced = true;
                await Source("force the switchover", a => a.ForceSwitchoverAsync(Id));
            }

            var snap = await Source("follow pre-copy", a => a.WaitOutgoingAsync(Id, (int)PollWait.TotalMilliseconds));
            S.Progress = snap.Progress with { DowntimeTargetMs = target };
            telemetry.Track(Id, Vm.VmId, S.Phase, S.Progress);
            if (snap.Failure is { } failure)
            {
                throw new OmigException(OmigErrorCode.Aborted, null, $"data plane: {failure}");
            }

            if (snap.InPreLastCopy && S.Phase == MigrationPhase.PreCopy)
            {
                await CheckEntryAsync(MigrationPhase.PreLastCopy, snap);
                await MoveAsync(MigrationPhase.PreLastCopy);
            }

            if (snap.Paused)
            {
                S.SwitchoverReason = SwitchoverReasons.Of(snap.SwitchoverReason, S.ForceCompleteBy is not null, forced);
                return snap;
            }

            // Stall detector: no shrink of the remaining set for StallMs → act per policy. The completion timeout is
            // not timed here: it went to the data plane with its action (Tuning: MaxPreCopyMs, OnTimeout), whose own
            // clock decides at the limit — a failure (abort) or a pause (force) comes back in the snapshot above.
            if (snap.Progress.BytesRemaining < bestRemaining)
            {
                bestRemaining = snap.Progress.BytesRemaining;
                lastProgress = time.GetTimestamp();
            }

            var stalled = time.GetElapsedTime(lastProgress).TotalMilliseconds > Policy.StallMs;
            if (stalled && Policy.OnStall == StallAction.Abort)
            {
                throw new OmigException(OmigErrorCode.Aborted, null, $"stalled: no progress for {Policy.StallMs} ms (policy {Policy.Name} aborts)");
            }

            // Escalate step by step: double the downtime target (up to the policy's cap) and give pre-copy
            // another stall period; at the cap, switch over now. With post-copy allowed, a QEMU data plane turns that
            // forced switchover into post-copy (a policy that wants it at the first stall sets its cap to its target);
            // our own engine, which has no post-copy, gets the escalation it always had.
            if (stalled && Policy.OnStall == StallAction.Escalate && target < Policy.MaxDowntimeTargetMs)
            {
                target = Math.Min(target * 2, Policy.MaxDowntimeTargetMs);
                await Source("raise the downtime target", a => a.SetDowntimeTargetAsync(Id, target));
                LogEscalated(logger, Id, target);
                lastProgress = time.GetTimestamp();
            }
            else if (stalled && !forced)
            {
                forced = true;
                await Source("force the switchover", a => a.ForceSwitchoverAsync(Id));
            }
        }
    }

    /// <summary>Off the critical path, retried until done: flows re-pointed at the controller's pace, then the
    /// relay removed; the slow disk close on the source; the source VM destroyed; the reservation turned into the
    /// placement; the VM record moved; location-bound services told.</summary>
    private async Task RollForwardAsync()
    {
        // The records move first, so nothing (an agent reconciling after a restart) takes the source for the
        // VM's home; then the source guest stops for good: after the commit point it must never run again.
        await Retry("commit-reservation", () => GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).CommitReservationAsync(Id, Vm));
        await Retry("move-vm-record", () => GrainFactory.GetGrain<IVmGrain>(Vm.VmId).MoveAsync(S.DestinationHost));
        await Retry("unplace-source", () => GrainFactory.GetGrain<IHostGrain>(S.SourceHost).RemoveVmAsync(Vm.VmId));
        // The flows are re-pointed at once, beside the source's teardown rather than after it: until they are, the VM's
        // packets still reach the source host, where only a relay (when the mode has one) carries them on. Measured in
        // the lab: without a relay, re-pointing after the teardown left the guest unreachable for about 4 s under TCG.
        var flows = Task.WhenAll(Vm.Nics.Select(async n =>
        {
            var table = GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId);
            await Retry($"flow {n.Ip} repoint", () => table.RepointFlowAsync(n.Ip, Vm.VmId, S.DestinationHost));

            // Removing a relay this migration does not own is a no-op, so a mode that staged none needs no branch here.
            await Retry($"relay {n.Ip} remove", () => table.RemoveRelayAsync(n.Ip, Id));
        }));
        var complete = Retry("complete-outgoing", async () =>
        {
            // Null on a replay after the source's silo restarted: keep what an earlier attempt recorded.
            S.Hypervisor = await Source("destroy the source VM (roll-forward)", a => a.CompleteOutgoingAsync(Id, Vm.VmId)) ?? S.Hypervisor;
        });
        await Task.WhenAll(flows, complete);
        if (S.Hypervisor?.PostCopyFailure is { } lost)
        {
            // The destination ran on pages it pulled from the source and failed before it had them all: the guest is gone.
            // The records stay at the destination (its disk, flows and placement), where a restart of the VM belongs.
            S.Failure = $"the VM was lost in post-copy (policy '{Policy.Name}' allows it): {lost}; it needs a restart on {S.DestinationHost}";
            await Retry("mark-vm-lost", () => GrainFactory.GetGrain<IVmGrain>(Vm.VmId).SetPowerAsync(PowerState.Lost));
            LogPostCopyLost(logger, Id, S.Failure);
            return;
        }

        await PlugDevicesAsync(S.DestinationHost, "(roll-forward)");
        await Task.WhenAll(Vm.Disks.Select(async d =>
        {
            // The take-over again first (idempotent): a disk grain that lost its record of it (written after the answer)
            // learns it here, before the source's handle is closed.
            var disk = GrainFactory.GetGrain<ICloudDiskGrain>(d.DiskId);
            if (Parallel)
            {
                await Retry($"disk {d.DiskId} take-over", () => disk.TakeOverAsync(S.DestinationHost));
            }

            await Retry($"disk {d.DiskId} close source", () => disk.CloseAsync(S.SourceHost));
        }));
        await Retry("verify-destination", async () =>
        {
            var check = await Destination("read the consistency check (roll-forward)", a => a.VerifyIncomingAsync(Id));

            // A replay after the agent released the incoming side keeps the verdict an earlier attempt read.
            if (S.GuestCheck is null || check.Verdict != GuestCheckVerdict.NotChecked)
            {
                S.GuestCheck = check;
            }

            if (check.Verdict == GuestCheckVerdict.Inconsistent)
            {
                S.Failure = "the destination guest failed its consistency check: " + check.Detail;
            }
        });
        await Retry("notify-location-services", () => ServiceProvider.GetRequiredService<ILocationServicesBackend>().NotifyMovedAsync(Id, Vm.VmId, S.SourceHost, S.DestinationHost));
        await ResolveVmPowerAsync();
    }

    /// <summary>Plugs the VM's SR-IOV VFs on <paramref name="host"/> (after the resume, or back on the source after a
    /// rollback), retried until done; a VF already plugged is not plugged or recorded again.</summary>
    private async Task PlugDevicesAsync(string host, string why)
    {
        var devices = DeviceRules.HotplugIds(Vm);
        if (devices.Count == 0)
        {
            return;
        }

        var plugged = await AgentAsync(host, $"list plugged devices {why}", a => a.GetPluggedDevicesAsync(Vm.VmId));
        foreach (var device in devices.Where(d => !plugged.Contains(d)))
        {
            await Retry($"plug {device}", async () =>
            {
                var ms = await AgentAsync(host, $"plug {device} {why}", a => a.PlugDeviceAsync(Vm.VmId, device));
                RecordDeviceStep(device, host, DeviceAction.Plug, ms);
            });
        }
    }

    private void RecordDeviceStep(string device, string host, DeviceAction action, double ms) =>
        S.DeviceSteps = S.DeviceSteps.Add(new DeviceStep(device, host, action, time.GetUtcNow(), ms));

    private async Task PhaseAsync(string name, Func<Task> body)
    {
        using var span = MigrationTelemetry.Source.StartActivity("phase " + name, ActivityKind.Internal, _trace?.Context ?? default);
        await body();
    }

    /// <summary>A component action before the commit point: one try (a failure rolls the migration back), traced.</summary>
    private async Task<T> Step<T>(string name, Func<Task<T>> action)
    {
        using var span = MigrationTelemetry.Source.StartActivity(name, ActivityKind.Internal, Activity.Current?.Context ?? default);
        return await action();
    }

    private Task Step(string name, Func<Task> action) => Step(name, async () =>
    {
        await action();
        return true;
    });

    /// <summary>A roll-forward or rollback action: idempotent, so retried with backoff until it succeeds
    /// (bounded; the reminder re-drives after that). NotFound/Conflict from the component are not retried.</summary>
    private async Task Retry(string name, Func<Task> action, bool retryConflict = false)
    {
        using var span = MigrationTelemetry.Source.StartActivity(name, ActivityKind.Internal, Activity.Current?.Context ?? default);
        var delay = TimeSpan.FromMilliseconds(50);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await action();
                return;
            }
            catch (OmigException ex) when ((ex.Code == OmigErrorCode.Conflict && !retryConflict) || ex.Code is OmigErrorCode.NotFound or OmigErrorCode.InvalidArgument)
            {
                throw;
            }
            catch (Exception ex) when (ex is AgentWaitExpiredException or ActivationStoppingException)
            {
                // The wait for the agent (Source/Destination) already took its time, or this activation is going away.
                throw;
            }
            catch (Exception ex) when (attempt < 8)
            {
                LogRetry(logger, Id, name, attempt, ex.Message);
                await Task.Delay(delay);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 2000));
            }
        }
    }

    /// <summary>The fault seam of the migration's own steps; the subject is the VM (stable across runs, unlike the id).</summary>
    private Task Fault(string step) => ServiceProvider.GetService(typeof(Faults.IFaultInjector)) is Faults.IFaultInjector faults
        ? faults.BeforeAsync(step, S.Request!.VmId).AsTask()
        : Task.CompletedTask;

    private static string Describe(Exception ex) => ex switch
    {
        MigrationCancelledException c => $"cancelled: {c.Reason}",
        AgentUnreachableException u => u.Error.Reason,
        OmigException o => o.Message,
        _ => ex.GetBaseException().Message,
    };
}
