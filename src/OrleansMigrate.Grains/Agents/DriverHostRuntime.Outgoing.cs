using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Agents;

/// <summary>The outgoing side of a migration, on its source host: the hypervisor's stream started and watched, the final copy, and its completion or cancellation.</summary>
public sealed partial class DriverHostRuntime
{
    public async Task StartOutgoingAsync(string hostId, string migrationId, string vmId, IncomingEndpoint destination, MigrationTuning tuning,
        Func<SessionRoundMessage, Task<SessionRoundAck>>? sendSessions = null)
    {
        var held = await _lifecycle.AcquireAsync(vmId);
        try
        {
            if (_outgoing.ContainsKey(migrationId))
            {
                return;
            }

            await faults.BeforeAsync(FaultSteps.AgentStartOutgoing, vmId);

            // The session rounds are checked and their first read made before the hypervisor's stream starts, so a refusal
            // leaves nothing started.
            var sessions = PrepareSessionsOut(vmId, destination, sendSessions);
            IOutgoingMigration outgoing;
            try
            {
                outgoing = await Driver(hostId).StartOutgoingAsync(vmId, new MigrationEndpoint(destination.Host, destination.Port), ToOptions(tuning));
            }
            catch
            {
                sessions?.Dispose();
                throw;
            }

            _outgoing[migrationId] = outgoing;
            if (NoteRelays(migrationId, tuning))
            {
                // QEMU: the control plane makes the switchover — the relays on with the guest still running, the lead for
                // packets already in its tap, then the pause; or at QEMU's own STOP when it paused first.
                outgoing.TryRunBeforePause(() => RelaysOn(hostId, migrationId), () => RelaysOff(migrationId), TimeSpan.FromMilliseconds(_options.RelayLeadMs));
            }

            // QEMU sends migrate-continue straight from its event pump; FinalCopyAsync below joins that run.
            outgoing.ContinueAtPause = tuning.ContinueAtPause;

            if (tuning.ContinueAtPause)
            {
                // Parallel switchover: the final copy starts the moment the source pauses, here on the host,
                // with no round trip to the migration grain inside the downtime. The grain's FinalCopy call
                // joins the same run; the destination still resumes only on the grain's word.
                _ = outgoing.PreSwitchover.ContinueWith(
                    t => t.IsCompletedSuccessfully ? FinalCopyAsync(hostId, migrationId) : Task.CompletedTask,
                    CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).Unwrap()
                    .ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
            }

            if (sessions is not null)
            {
                StartSessionsPump(migrationId, outgoing, sessions);
            }
        }
        finally
        {
            held.Dispose();
        }
    }

    public async Task<OutgoingSnapshot> WaitOutgoingAsync(string hostId, string migrationId, TimeSpan wait)
    {
        var outgoing = Outgoing(migrationId);
        await Task.WhenAny(outgoing.PreSwitchover, Task.Delay(wait));
        var progress = outgoing.GetProgress();
        var info = new MigrationProgressInfo(progress.Round, progress.BytesSent, progress.BytesRemaining, progress.DirtyRateBytesPerSecond,
            progress.BandwidthBytesPerSecond, progress.ExpectedDowntimeMs,
            progress.BandwidthBytesPerSecond > 0 ? progress.BytesRemaining / progress.BandwidthBytesPerSecond * 1000 : null,
            progress.State.ToString().ToLowerInvariant());
        var pre = outgoing.PreSwitchover;
        string? failure = pre.IsFaulted ? pre.Exception!.GetBaseException().Message : pre.IsCanceled ? "cancelled" : null;
        return new OutgoingSnapshot(info.Stage, info, pre.IsCompletedSuccessfully, pre.IsCompletedSuccessfully ? pre.Result.PausedAtUtc : null,
            failure, progress.State == OutgoingMigrationState.PreLastCopy)
        {
            SwitchoverReason = pre.IsCompletedSuccessfully ? pre.Result.Reason switch
            {
                SwitchoverReason.Converged => "converged",
                SwitchoverReason.RoundLimit => "round-limit",
                SwitchoverReason.TimeLimit => "time-limit",
                SwitchoverReason.Requested => "requested",
                _ => null,
            } : null,
        };
    }

    public void ForceSwitchover(string hostId, string migrationId) => Outgoing(migrationId).RequestSwitchover();

    public void SetDowntimeTarget(string hostId, string migrationId, double downtimeTargetMs)
    {
        if (!double.IsFinite(downtimeTargetMs) || downtimeTargetMs is < 0.1 or > 60_000)
        {
            throw OmigException.Invalid("downtime_target_ms", $"{downtimeTargetMs} is not between 0.1 and 60000");
        }

        Outgoing(migrationId).SetDowntimeTarget(downtimeTargetMs);
    }

    public Task<FinalCopyReport> FinalCopyAsync(string hostId, string migrationId)
    {
        var outgoing = Outgoing(migrationId);
        return _finalCopies.GetOrAdd(migrationId, _ => new Lazy<Task<FinalCopyReport>>(async () =>
        {
            await faults.BeforeAsync(FaultSteps.AgentFinalCopy, outgoing.VmId);

            // The relays switched on here, the hypervisor's final copy and the final session delta go out together.
            var relays = RelaysOn(hostId, migrationId);
            var sessions = FinalSessionsAsync(hostId, migrationId);
            FinalCopyResult final;
            try
            {
                final = await outgoing.FinalCopyAsync();
            }
            catch
            {
                // Observed either way; the hypervisor's failure is the one reported. QEMU may run the source again after a
                // failed final copy: its packets must reach it, not the destination.
                var observed = sessions.ContinueWith(static t => t.Exception?.Flatten(), TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
                RelaysOff(migrationId);
                throw;
            }

            var done = DateTimeOffset.UtcNow;
            var sent = await sessions;
            var ms = (final.AcknowledgedTimestamp - final.StartedTimestamp) * 1000.0 / System.Diagnostics.Stopwatch.Frequency;
            var times = outgoing.SwitchoverTimes();
            System.Collections.Immutable.ImmutableArray<SwitchoverMark> marks = times.Count > 0
                ? [.. times.Select(t => SwitchoverMark.At(t.Step, hostId, t.AtUtc))]
                : [new SwitchoverMark("final copy", hostId, done.AddMilliseconds(-ms), done)];
            marks = marks.AddRange(relays);
            return new FinalCopyReport(ms, final.Pages, final.WireBytes, final.CompressedBytes, sent?.Entries ?? final.SessionDeltaEntries)
            {
                Marks = sent is { Mark: var mark } ? marks.Add(mark) : marks,
            };
        })).Value;
    }

    // The last completions' reports by migration id: a complete call that outlasts the caller's timeout (a post-copy still
    // sending pages) is repeated, and the repeat must answer what the first found — above all a post-copy that lost the VM.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, HypervisorReport> _completedReports = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _completedOrder = new();
    private const int KeptReports = 256;

    public async Task<HypervisorReport?> CompleteOutgoingAsync(string hostId, string migrationId, string vmId)
    {
        var held = await _lifecycle.AcquireAsync(vmId);
        try
        {
            HypervisorReport? report = _completedReports.GetValueOrDefault(migrationId);
            if (_outgoing.TryGetValue(migrationId, out var outgoing))
            {
                string? lost = null;
                try
                {
                    await outgoing.CompleteAsync();
                }
                catch (MigrationFailedException ex) when (ex.Kind == MigrationFailureKind.PostCopyLost)
                {
                    // Past the commit point nothing rolls back: the report carries the loss to the migration, and the source's
                    // half of the guest is destroyed below like a completed one (without its destination it can never run).
                    lost = ex.Message;
                }

                report = Report(outgoing) with { PostCopyFailure = lost };
                if (_completedReports.TryAdd(migrationId, report))
                {
                    _completedOrder.Enqueue(migrationId);
                    while (_completedOrder.Count > KeptReports && _completedOrder.TryDequeue(out var oldest))
                    {
                        _completedReports.TryRemove(oldest, out _);
                    }
                }

                _outgoing.TryRemove(migrationId, out _);
                await outgoing.DisposeAsync();
            }

            await Driver(hostId).DestroyVmAsync(vmId);
            await DetachNicsAsync(vmId);
            ForgetRelays(migrationId);
            _finalCopies.TryRemove(migrationId, out _);
            EndSessions(migrationId);
            return report;
        }
        finally
        {
            held.Dispose();
        }
    }

    public async Task CancelOutgoingAsync(string hostId, string migrationId, string vmId, string reason)
    {
        var held = await _lifecycle.AcquireAsync(vmId);
        try
        {
            // The relays this host switched on at the pause go off first: the guest may run here again from the cancel on.
            RelaysOff(migrationId);

            // Removed only once cancelled: a failed cancel is retried against the same stream.
            if (_outgoing.TryGetValue(migrationId, out var outgoing))
            {
                await outgoing.CancelAsync(reason);
                _outgoing.TryRemove(migrationId, out _);
                await outgoing.DisposeAsync();
            }

            _finalCopies.TryRemove(migrationId, out _);
            EndSessions(migrationId);

            // After a silo restart the stream is gone; make sure the guest runs on the source either way.
            var driver = Driver(hostId);
            var vm = (await driver.ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == vmId);
            if (vm is { State: VmState.Paused })
            {
                await driver.ResumeVmAsync(vmId);
            }
        }
        finally
        {
            held.Dispose();
        }
    }

    private HypervisorReport Report(IOutgoingMigration outgoing)
    {
        if (outgoing.HypervisorStatistics() is { } s)
        {
            return new HypervisorReport(DriverName, s.DowntimeMs, s.TotalMs, s.SetupMs, s.TransferredBytes, s.DirtySyncCount,
                s.DirtyRateBytesPerSecond, s.ThroughputBytesPerSecond, s.CpuThrottlePercent, s.PauseHoldMs, s.DeviceStageMs, s.StopMs, s.Channels, s.PostCopyMs);
        }

        var stats = outgoing.GetStatistics();
        var progress = outgoing.GetProgress();
        // Our own pre-copy engine: one stream, whatever channel count the policy asks for.
        return new HypervisorReport(DriverName, null, progress.ElapsedMs, null, stats.BytesSent, progress.Round, progress.DirtyRateBytesPerSecond, stats.BulkCopyBytesPerSecond, 0,
            MigrationChannels: 1);
    }

    private IOutgoingMigration Outgoing(string migrationId) =>
        _outgoing.TryGetValue(migrationId, out var outgoing)
            ? outgoing
            : throw OmigException.NotFound("migration", $"no outgoing migration '{migrationId}' on this host (its silo may have restarted)");
}
