using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>The switchover: parallel (the destination resumes at its last condition) or serial, and its timeline.</summary>
public sealed partial class MigrationGrain
{
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
        // The plan's NICs are the relays the destination enables: none in a mode that staged none.
        var switched = Destination("switch over", a => a.SwitchoverAsync(Id, new SwitchoverPlan(S.SourceHost, Vm.Disks, UsesRelay ? Vm.Nics : [])));

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

    [LoggerMessage(EventId = 4022, Level = LogLevel.Error, Message = "Migration {MigrationId}: {Failure}")]
    private static partial void LogPostCopyLost(ILogger logger, string migrationId, string failure);

    [LoggerMessage(EventId = 4021, Level = LogLevel.Warning, Message = "Migration {MigrationId}: the destination resumed, but the source's final-copy report failed ({Reason}); its figures are left at zero")]
    private static partial void LogFinalCopyReportLost(ILogger logger, string migrationId, string reason);
}
