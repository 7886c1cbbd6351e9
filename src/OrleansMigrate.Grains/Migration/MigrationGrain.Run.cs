using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Agents;
using OrleansMigrate.Cloud;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Migration;

public sealed partial class MigrationGrain
{
    private static readonly TimeSpan PollWait = TimeSpan.FromSeconds(1);

    /// <summary>Tries of an idempotent step before the pause (<see cref="Transient{T}"/>).</summary>
    private const int TransientAttempts = 3;

    private VmSpec Vm => S.Vm!;

    private bool Parallel => S.Request!.Mode == OrchestrationMode.Parallel;

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
                        await PhaseAsync("post-migration", RollForwardAsync);
                        await MoveAsync(MigrationPhase.Completed);
                        Ended("completed");
                        break;
                    case MigrationPhase.RollingBack:
                        await PhaseAsync("rollback", RollBackAsync);
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

    /// <summary>Ends a rollback that cannot finish: best effort on the reservation and the relays, then Failed.</summary>
    private async Task FailAsync(string reason)
    {
        S.Failure = reason;
        LogFailed(logger, Id, reason);
        foreach (var release in Vm.Nics.Select(n => (Func<Task>)(() => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).RemoveRelayAsync(n.Ip, Id)))
                     .Append(() => GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).ReleaseAsync(Id)))
        {
            try
            {
                await release();
            }
            catch (Exception ex)
            {
                LogRetry(logger, Id, "fail-cleanup", 1, ex.Message);
            }
        }

        await MoveAsync(MigrationPhase.Failed);
        Ended("failed");
    }

    private void Ended(string outcome)
    {
        telemetry.Outcomes.Add(1, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("mode", S.Request!.Mode.ToString()));
        if (S.Downtime is { } d && outcome == "completed")
        {
            telemetry.Downtime.Record(d.DowntimeMs, new KeyValuePair<string, object?>("mode", S.Request.Mode.ToString()));
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
                await GrainFactory.GetGrain<Operations.IHostDrainGrain>(drain).WakeAsync();
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
        S.Endpoint = await Transient("prepare-incoming", () => Destination("prepare the incoming VM", a => a.PrepareIncomingAsync(Id, Vm)));
        if (Parallel)
        {
            // Slow cloud work before the freeze: open every disk read-only on the destination and stage the
            // relays, all at once.
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
                .Concat(Vm.Nics.Select(n => Transient($"relay {n.Ip} stage", () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).StageRelayAsync(n.Ip, S.SourceHost, S.DestinationHost, Id)))));
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

    /// <summary>Runs pre-copy and the pre-last-copy stage until the source VM pauses; returns the pause time.</summary>
    private async Task<OutgoingSnapshot> PreCopyAsync()
    {
        await Transient("precopy", () => Fault(Faults.FaultSteps.MigrationPreCopy));
        await Transient("start-outgoing", () => Source("start pre-copy", a => a.StartOutgoingAsync(Id, Vm.VmId, S.Endpoint!,
            Policy.Tuning(Vm.MemoryMiB > int.MaxValue ? int.MaxValue : (int)Vm.MemoryMiB) with { ContinueAtPause = Parallel })));
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
            // another stall period; at the cap, switch over now.
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

    /// <summary>The critical path. The VM is paused; everything that must happen before it runs again runs
    /// in parallel (parallel mode) or one after another with the slow steps inside (serial mode). Ends at the
    /// commit point: the destination resumed.</summary>
    private async Task SwitchoverAsync(OutgoingSnapshot paused)
    {
        // The snapshot that reported the pause is the source agent's answer: asking again would spend a
        // round trip inside the downtime.
        await CheckEntryAsync(MigrationPhase.Switchover, paused);
        var pausedAt = paused.PausedAtUtc!.Value;

        // In parallel mode nothing is logged inside the downtime: the phase's log line follows the commit.
        if (S.Phase != MigrationPhase.Switchover)
        {
            await MoveAsync(MigrationPhase.Switchover, persist: false, log: !Parallel);
        }

        using var span = MigrationTelemetry.Source.StartActivity("phase switchover", ActivityKind.Internal, _trace?.Context ?? default);
        var steps = new ConcurrentDictionary<string, double>(StringComparer.Ordinal);
        await Fault(Faults.FaultSteps.MigrationSwitchover);
        if (Parallel)
        {
            await ParallelSwitchoverAsync(paused, steps, span);
            LogPhase(logger, Id, MigrationPhase.Switchover);
        }
        else
        {
            await SerialSwitchoverAsync(pausedAt, steps, span);
        }

        span?.SetTag("omig.downtime_ms", S.Downtime!.DowntimeMs).SetTag("omig.final_bytes", S.Downtime.FinalBytes);
        await CheckEntryAsync(MigrationPhase.PostMigration);
        await MoveAsync(MigrationPhase.PostMigration);
    }

    /// <summary>
    /// The parallel switchover: the destination's agent is handed what it must see before it may run the VM (its own
    /// side received the final copy, which the source's agent started at the pause on its own; each disk taken over
    /// at a new fencing generation; each relay enabled; no abort) and takes those steps itself, resuming the instant
    /// the last one lands. Inside the downtime there are no further grain calls, storage writes or log lines here:
    /// the grain records the commit afterwards, with every step on one clock.
    /// </summary>
    private async Task ParallelSwitchoverAsync(OutgoingSnapshot paused, ConcurrentDictionary<string, double> steps, Activity? span)
    {
        var seen = time.GetUtcNow();
        if (S.CancelReason is { } cancel)
        {
            throw new MigrationCancelledException(cancel);
        }

        var finalCopy = Source("final copy", a => a.FinalCopyAsync(Id));
        var switched = Destination("switch over", a => a.SwitchoverAsync(Id, new SwitchoverPlan(S.SourceHost, Vm.Disks, Vm.Nics)));

        // A final copy that fails ends the wait at once (the destination never receives it, so it cannot resume); the
        // rollback then aborts the destination under its VM lock, which the resume would have taken too.
        var first = await Task.WhenAny(finalCopy, switched);
        if (first.IsFaulted || first.IsCanceled)
        {
            await first;
        }

        var report = await switched;
        FinalCopyReport final;
        try
        {
            final = await finalCopy;
        }
        catch (Exception ex) when (ex is not ActivationStoppingException)
        {
            // The destination received everything and runs: committed, whatever the source's own report says.
            LogFinalCopyReportLost(logger, Id, Describe(ex));
            final = new FinalCopyReport(0, 0, 0, 0, 0);
        }

        // Committed. From here the migration only rolls forward.
        var pausedAt = paused.PausedAtUtc!.Value;
        var marks = ImmutableArray.CreateBuilder<SwitchoverMark>();
        marks.Add(SwitchoverMark.At("STOP", S.SourceHost, pausedAt));
        marks.Add(SwitchoverMark.At("pause seen by the migration", "control", seen));
        marks.AddRange(final.Marks);
        marks.AddRange(report.Marks);
        var timeline = SwitchoverTimeline.Of(pausedAt, marks);
        steps["final copy"] = final.DataPlaneMs;
        foreach (var step in timeline.Where(t => t.EndMs > t.StartMs && t.Host == S.DestinationHost))
        {
            steps[step.Step] = Math.Round(step.EndMs - step.StartMs, 3);
        }

        RecordSwitchoverSpans(span, pausedAt, final, marks);
        var downtimeMs = (report.ResumedAtUtc - pausedAt).TotalMilliseconds;
        if (timeline.FirstOrDefault(t => t.Step == "resume sent") is { } resumeSent)
        {
            steps["resume"] = Math.Round(Math.Max(0, downtimeMs - resumeSent.StartMs), 3);
        }

        S.Downtime = new DowntimeReport(downtimeMs, final.DataPlaneMs, final.Pages, final.WireBytes,
            final.CompressedBytes, final.SessionDeltaEntries, steps.ToImmutableDictionary(StringComparer.Ordinal))
        {
            Timeline = timeline,

            // The source's answer to the long poll that reported the pause, the destination's switchover, and each call it made.
            CriticalPathCalls = 2 + report.Calls,
        };
    }

    /// <summary>
    /// The parallel switchover's steps as spans of the switchover phase, recorded after the commit from the times the
    /// hosts measured (nothing is traced inside the downtime): the final copy from the pause to the destination's
    /// receipt of it, and each step that took time (each disk's take-over, each relay's enable).
    /// </summary>
    private static void RecordSwitchoverSpans(Activity? parent, DateTimeOffset pausedAt, FinalCopyReport final, IEnumerable<SwitchoverMark> marks)
    {
        if (parent is null)
        {
            return;
        }

        void Span(string name, string host, DateTimeOffset start, DateTimeOffset end)
        {
            using var child = MigrationTelemetry.Source.StartActivity(name, ActivityKind.Internal, parent.Context, startTime: start);
            child?.SetTag("omig.host", host).SetEndTime(end.UtcDateTime);
        }

        var all = marks.ToList();
        var received = all.FirstOrDefault(m => m.Step == "final copy received");
        var copied = received?.StartUtc ?? pausedAt.AddMilliseconds(final.DataPlaneMs);
        Span("final copy", received?.Host ?? "", pausedAt, copied < pausedAt ? pausedAt : copied);
        foreach (var m in all.Where(m => m.EndUtc > m.StartUtc && m.Step != "final copy"))
        {
            Span(m.Step, m.Host, m.StartUtc, m.EndUtc);
        }
    }

    /// <summary>The naive switchover, kept for comparison: every step one after another, the slow ones inside the
    /// downtime, the grain between each of them.</summary>
    private async Task SerialSwitchoverAsync(DateTimeOffset pausedAt, ConcurrentDictionary<string, double> steps, Activity? span)
    {
        async Task<T> Timed<T>(string name, Func<Task<T>> action)
        {
            using var child = MigrationTelemetry.Source.StartActivity(name, ActivityKind.Internal, span?.Context ?? default);
            var t0 = Stopwatch.GetTimestamp();
            var result = await action();
            steps[name] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            return result;
        }

        var final = await Timed("final copy", () => Source("final copy", a => a.FinalCopyAsync(Id)));
        foreach (var d in Vm.Disks)
        {
            await Timed($"disk {d.DiskId}", async () =>
            {
                // The naive hand-over, all inside the downtime: open on the destination, take it over,
                // and wait for the slow close on the source before the VM may run. A replay finds the
                // destination writing already and only finishes the close.
                var g = GrainFactory.GetGrain<ICloudDiskGrain>(d.DiskId);
                if ((await g.GetAsync())?.WriterHost == S.DestinationHost)
                {
                    await g.CloseAsync(S.SourceHost);
                    return true;
                }

                await g.PauseAsync(S.SourceHost);
                await g.OpenReadOnlyAsync(S.DestinationHost);
                await g.PromoteReadWriteAsync(S.DestinationHost);
                await g.CloseAsync(S.SourceHost);
                return true;
            });
        }

        foreach (var n in Vm.Nics)
        {
            await Timed($"flow {n.Ip} install", async () =>
            {
                await GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).RepointFlowAsync(n.Ip, Vm.VmId, S.DestinationHost);
                return true;
            });
        }

        if (S.CancelReason is { } cancel)
        {
            throw new MigrationCancelledException(cancel);
        }

        // The resume call also waits for the destination's consistency check, which runs after the guest
        // resumed; the step records only the time until the guest ran.
        var resumeCalledAt = time.GetUtcNow();
        var resumed = await Destination("resume the VM", a => a.ResumeIncomingAsync(Id));
        steps["resume"] = Math.Max(0, (resumed.ResumedAtUtc - resumeCalledAt).TotalMilliseconds);

        // Committed. From here the migration only rolls forward.
        var marks = ImmutableArray.Create(SwitchoverMark.At("STOP", S.SourceHost, pausedAt), SwitchoverMark.At("resume sent", "control", resumeCalledAt),
            SwitchoverMark.At("RESUME", S.DestinationHost, resumed.ResumedAtUtc)).AddRange(final.Marks);
        S.Downtime = new DowntimeReport((resumed.ResumedAtUtc - pausedAt).TotalMilliseconds, final.DataPlaneMs, final.Pages, final.WireBytes,
            final.CompressedBytes, final.SessionDeltaEntries, steps.ToImmutableDictionary(StringComparer.Ordinal))
        {
            Timeline = SwitchoverTimeline.Of(pausedAt, marks),

            // The pause report, the final copy, per disk get/pause/open/promote/close, per NIC the flow, and the resume.
            CriticalPathCalls = 3 + Vm.Disks.Length * 5 + Vm.Nics.Length,
        };
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
        await Retry("complete-outgoing", async () =>
        {
            // Null on a replay after the source's silo restarted: keep what an earlier attempt recorded.
            S.Hypervisor = await Source("destroy the source VM (roll-forward)", a => a.CompleteOutgoingAsync(Id, Vm.VmId)) ?? S.Hypervisor;
        });
        await Task.WhenAll(Vm.Nics.Select(async n =>
        {
            var table = GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId);
            await Retry($"flow {n.Ip} repoint", () => table.RepointFlowAsync(n.Ip, Vm.VmId, S.DestinationHost));
            await Retry($"relay {n.Ip} remove", () => table.RemoveRelayAsync(n.Ip, Id));
        }).Concat(Vm.Disks.Select(async d =>
        {
            // The take-over again first (idempotent): a disk grain that lost its record of it (written after the answer)
            // learns it here, before the source's handle is closed.
            var disk = GrainFactory.GetGrain<ICloudDiskGrain>(d.DiskId);
            if (Parallel)
            {
                await Retry($"disk {d.DiskId} take-over", () => disk.TakeOverAsync(S.DestinationHost));
            }

            await Retry($"disk {d.DiskId} close source", () => disk.CloseAsync(S.SourceHost));
        })));
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

    /// <summary>Before the commit point: the destination torn down first (so it can never resume after the source
    /// does), the disk handed back to the source, relays disabled, the source VM resumed, relays removed, the
    /// reservation released. If the destination turns out to have resumed, the migration rolls forward instead.</summary>
    private async Task RollBackAsync()
    {
        var reason = S.Failure ?? S.CancelReason ?? "rolled back";

        // A source guest that runs again (the data plane resumes it when the final copy fails before it was
        // fully sent) means the destination can never resume: give it its disks and packets back first.
        // With the source's agent unreachable the rollback waits here (Source: at most Omig:AgentWaitTimeoutSeconds),
        // before anything is undone; giving up then undoes what it can without that agent (GiveUpAsync).
        if (await Source("read the source VM's state (rollback)", a => a.GetVmStateAsync(Vm.VmId)) == HypervisorVmState.Running)
        {
            await RestoreSourceAsync();
        }

        try
        {
            await Retry("abort-incoming", () => Destination("tear the incoming VM down (rollback)", a => a.AbortIncomingAsync(Id, Vm.VmId, reason)));
        }
        catch (OmigException ex) when (ex.Code == OmigErrorCode.Conflict)
        {
            S.Failure = null;
            await MoveAsync(MigrationPhase.PostMigration);
            return;
        }

        // The source's hypervisor process died under the guest: nothing to resume. The migration fails, and the
        // VM is recorded as lost, needing a restart — never left looking like it runs.
        if (await Source("read the source VM's state (rollback)", a => a.GetVmStateAsync(Vm.VmId)) == HypervisorVmState.Lost)
        {
            var detail = await Source("read how the source VM ended (rollback)", a => a.GetVmDetailAsync(Vm.VmId));
            S.Failure = $"the source VM was lost ({detail ?? "its hypervisor process died"}); it needs a restart. Cause: {reason}";
            await RestoreSourceAsync();
            await Retry("cancel-outgoing", () => Source("stop the stream (rollback)", a => a.CancelOutgoingAsync(Id, Vm.VmId, reason)));
            await Task.WhenAll(Vm.Nics.Select(n => Retry($"relay {n.Ip} remove", () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).RemoveRelayAsync(n.Ip, Id))));
            await Retry("release-reservation", () => GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).ReleaseAsync(Id));
            await Retry("mark-vm-lost", () => GrainFactory.GetGrain<IVmGrain>(Vm.VmId).SetPowerAsync(PowerState.Lost));
            await MoveAsync(MigrationPhase.Failed);
            Ended("failed");
            return;
        }

        await RestoreSourceAsync();
        await Retry("cancel-outgoing", () => Source("resume the source VM (rollback)", a => a.CancelOutgoingAsync(Id, Vm.VmId, reason)));
        await Task.WhenAll(Vm.Nics.Select(n => Retry($"relay {n.Ip} remove", () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).RemoveRelayAsync(n.Ip, Id))));
        await Retry("release-reservation", () => GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).ReleaseAsync(Id));
        await ResolveVmPowerAsync();
        await MoveAsync(MigrationPhase.RolledBack);
        Ended(S.CancelReason is not null && S.Failure is null ? "cancelled" : "rolled_back");
    }

    /// <summary>Disks writable on the source again, relays off, and (serial mode) flows pointing back at the
    /// source — everything the source guest needs before or as it runs again. Idempotent.</summary>
    private async Task RestoreSourceAsync()
    {
        await Task.WhenAll(Vm.Disks.Select(d => Retry($"disk {d.DiskId} restore source", () => GrainFactory.GetGrain<ICloudDiskGrain>(d.DiskId).RestoreWriterAsync(S.SourceHost))));
        await Task.WhenAll(Vm.Nics.Select(n => Retry($"relay {n.Ip} disable", () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).SetRelayEnabledAsync(n.Ip, Id, false))));
        if (!Parallel)
        {
            // Serial mode may have re-pointed flows inside the failed switchover; a re-point still in flight
            // answers Conflict until it lands, so that one is waited out.
            await Task.WhenAll(Vm.Nics.Select(n => Retry($"flow {n.Ip} restore", () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).RepointFlowAsync(n.Ip, Vm.VmId, S.SourceHost), retryConflict: true)));
        }
    }

    /// <summary>Checks the entry standard of <paramref name="phase"/> by asking the components (see <see cref="MigrationPhases.Table"/>).</summary>
    /// <param name="source">The source agent's latest answer, when the caller has just received it.</param>
    private async Task CheckEntryAsync(MigrationPhase phase, OutgoingSnapshot? source = null)
    {
        var unmet = new List<string>();
        foreach (var condition in MigrationPhases.EntryStandard(phase, S.Request!.Mode))
        {
            unmet.AddRange(await UnmetAsync(condition.Check, source));
        }

        if (unmet.Count > 0)
        {
            throw new OmigException(OmigErrorCode.Conflict, null, $"entry standard of {phase} not met: {string.Join("; ", unmet)}");
        }
    }

    /// <summary>Asks the component of one entry-standard item (<see cref="MigrationPhases.Table"/>) whether it holds: what
    /// is missing, or nothing.</summary>
    private async Task<IEnumerable<string>> UnmetAsync(EntryCheck check, OutgoingSnapshot? source)
    {
        switch (check)
        {
            case EntryCheck.VmRunsOnSource:
                var power = await Source("read the VM's state", a => a.GetVmStateAsync(Vm.VmId));
                return power == HypervisorVmState.Running ? [] : [$"VM {Vm.VmId} is {(power is { } p ? Naming.EnumNames.Of(p) : "not known")} on {S.SourceHost}, not running"];
            case EntryCheck.NoOtherMigrationOfVm:
                var open = await SchedulerShards.Shard(GrainFactory, SchedulerShards.OfMigration(Id)).OpenMigrationsOfVmAsync(Vm.VmId);
                return [.. open.Where(other => other != Id).Select(other => $"migration {other} of VM {Vm.VmId} is open")];
            case EntryCheck.CapacityReserved:
                var host = await GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).GetAsync();
                return host is not null && host.Reservations.ContainsKey(Id) ? [] : [$"no capacity reserved on {S.DestinationHost}"];
            case EntryCheck.DestinationPrepared:
                return S.Endpoint is not null ? [] : ["destination not prepared for incoming"];
            case EntryCheck.DisksOpenReadOnly:
                var disks = await Task.WhenAll(Vm.Disks.Select(async d => (d.DiskId, Record: await GrainFactory.GetGrain<ICloudDiskGrain>(d.DiskId).GetAsync())));
                return disks.Where(d => d.Record is null || !d.Record.Attachments.TryGetValue(S.DestinationHost, out var a) || a.Mode != DiskAttachmentMode.ReadOnly)
                    .Select(d => $"disk {d.DiskId} not open read-only on {S.DestinationHost}");
            case EntryCheck.RelaysStaged:
                var tables = await Task.WhenAll(Vm.Nics.Select(async n => (n.Ip, Table: await GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).GetAsync())));
                return tables.Where(t => !t.Table.Relays.Any(r => r.Ip == t.Ip && r.OwnerId == Id && !r.Enabled && r.ToHost == S.DestinationHost))
                    .Select(t => $"relay for {t.Ip} not staged");
            case EntryCheck.SourceStreaming:
                var streaming = source ?? await Source("read the pre-copy state", a => a.WaitOutgoingAsync(Id, 0));
                return streaming.Failure is null ? [] : [$"source stream not running ({streaming.State})"];
            case EntryCheck.SourcePaused:
                var paused = source ?? await Source("read the pre-copy state", a => a.WaitOutgoingAsync(Id, 0));
                return paused.Failure is null && paused.Paused ? [] : ["source VM not paused for switchover"];
            case EntryCheck.DestinationResumed:
                // The destination's own answer to the resume (its RESUME time), recorded by the switchover just now.
                return S.Downtime is not null ? [] : [$"no resume reported by {S.DestinationHost}"];
            default:
                throw new InvalidOperationException($"entry check {check} has no implementation");
        }
    }

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

    [LoggerMessage(EventId = 4021, Level = LogLevel.Warning, Message = "Migration {MigrationId}: the destination resumed, but the source's final-copy report failed ({Reason}); its figures are left at zero")]
    private static partial void LogFinalCopyReportLost(ILogger logger, string migrationId, string reason);
}
