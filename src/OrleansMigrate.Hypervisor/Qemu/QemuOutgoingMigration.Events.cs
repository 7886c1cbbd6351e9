using System.Diagnostics;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>The migration's reactions to QEMU: its QMP events (STOP, passes, status changes), the process exiting, and failing.</summary>
public sealed partial class QemuOutgoingMigration
{
    private void OnEvent(QmpEvent e, long received)
    {

        switch (e.Name)
        {
            case "STOP":
                bool switchoverStop;
                lock (_gate)
                {
                    switchoverStop = _state is OutgoingMigrationState.PreCopy or OutgoingMigrationState.PreLastCopy;
                    if (switchoverStop)
                    {
                        _stopTimestamp = received;
                        _stopUtc = e.Timestamp ?? DateTimeOffset.UtcNow;
                    }
                }

                if (switchoverStop)
                    RunBeforePause();
                break;
            case "MIGRATION_PASS":
                var pass = (int)(e.Data?["pass"]?.GetValue<long>() ?? 0);
                var now = Stopwatch.GetElapsedTime(_startTimestamp).TotalMilliseconds;
                lock (_rounds)
                {
                    if (_rounds.Count > 0)
                        _rounds[^1] = _rounds[^1] with { DurationMs = now - _rounds[^1].StartedAtMs };
                    if (State is OutgoingMigrationState.PreCopy)
                    {
                        var s = LastStats;
                        _rounds.Add(new RoundRecord(pass, RoundStage.PreCopy, now, 0, 0, 0, 0, 0, 0,
                            s?.DirtyRateBytesPerSecond ?? 0, s?.BandwidthBytesPerSecond ?? 0, s?.ExpectedDowntimeMs ?? 0));
                    }
                }

                _passes = pass;
                break;
            case "MIGRATION":
                OnStatus(e.Data?["status"]?.GetValue<string>() ?? string.Empty, received);
                break;
        }
    }

    private void OnStatus(string status, long received)
    {
        switch (status)
        {
            case "pre-switchover":
            {
                PreSwitchoverInfo info;
                lock (_gate)
                {
                    // A limit abort is cancelling this migration: the guest stays (or is resumed) on the source.
                    if (_state is not (OutgoingMigrationState.PreCopy or OutgoingMigrationState.PreLastCopy) || _limitFailure is not null)
                        return;
                    _state = OutgoingMigrationState.PreSwitchover;
                    _preSwitchoverTimestamp = received;
                    var stop = _stopTimestamp != 0 ? _stopTimestamp : received;
                    var s = LastStats;
                    info = new PreSwitchoverInfo(_limitReached ? SwitchoverReason.TimeLimit : _requested ? SwitchoverReason.Requested : SwitchoverReason.Converged, Math.Max(1, _passes),
                        s is { PageSize: > 0 } ? s.RemainingBytes / s.PageSize : 0, s?.ExpectedDowntimeMs ?? 0,
                        Stopwatch.GetElapsedTime(_startTimestamp, stop).TotalMilliseconds, 0, stop, received,
                        _stopTimestamp != 0 ? _stopUtc : DateTimeOffset.UtcNow);
                }

                _vm.State = VmState.Paused;
                RunBeforePause();
                _pre.TrySetResult(info);
                if (ContinueAtPause)
                    _ = FinalCopyAsync();
                break;
            }

            case "postcopy-active":
                lock (_gate)
                {
                    if (_state == OutgoingMigrationState.FinalCopy)
                        _state = OutgoingMigrationState.AwaitingCommit;
                }

                Volatile.Write(ref _postCopyActiveTimestamp, received);
                _postCopyActive.TrySetResult(received);
                break;
            case "postcopy-paused" when PostCopyStarted:
                // QEMU 7.2 parks a broken post-copy to wait for a recovery (migrate-recover) that needs the destination's
                // QEMU alive with the guest's newest pages; the destination side is gone or cut off, so it is lost.
                _ = FailFromQemuAsync(status);
                break;
            case "completed":
                lock (_gate)
                {
                    if (_state == OutgoingMigrationState.FinalCopy)
                        _state = OutgoingMigrationState.AwaitingCommit;
                }

                if (PostCopyStarted)
                    Volatile.Write(ref _postCopyEndTimestamp, received);
                Volatile.Write(ref _completedTimestamp, received);
                _completed.TrySetResult(received);
                _ended.TrySetResult(status);
                break;
            case "failed" or "cancelled":
                _ended.TrySetResult(status);
                _ = FailFromQemuAsync(status);
                break;
        }
    }

    private async Task FailFromQemuAsync(string status)
    {
        string why = status;
        try
        {
            var reply = await _process.ExecuteAsync("query-migrate", timeout: TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            if (reply?["error-desc"]?.GetValue<string>() is { } desc)
                why = $"{status}: {desc}";
        }
        catch (Exception ex) when (ex is QmpConnectionException or QmpTimeoutException or QemuException or QmpCommandException)
        {
        }

        var cancelled = status == "cancelled";
        if (PostCopyStarted)
        {
            FailPostCopy($"QEMU's migration is {why} after the switch to post-copy");
            return;
        }

        if (cancelled && Volatile.Read(ref _limitFailure) is { } limit)
            Fail(OutgoingMigrationState.Failed, limit);
        else
            Fail(cancelled ? OutgoingMigrationState.Cancelled : OutgoingMigrationState.Failed,
                new MigrationFailedException(cancelled ? MigrationFailureKind.Cancelled : MigrationFailureKind.DestinationFailed, $"QEMU migration {why}; the VM runs on the source"));
        if (_process.Exited.IsCompleted)
            return;

        // QEMU resumes only a guest it paused itself; one the control plane paused (StopForSwitchoverAsync) is resumed
        // here, after the caller's work before the pause is undone.
        if (PausedByControlPlane)
        {
            try
            {
                await EnsureSourceRunsAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is QmpConnectionException or QmpTimeoutException or QemuException or QmpCommandException)
            {
                // QEMU is going away: the orchestrator's rollback finds it so.
            }

            return;
        }

        UndoBeforePause();
        _vm.State = VmState.Running;
    }

    private void OnProcessExited()
    {
        if (_process.Stopping)
            return;
        var failure = new MigrationFailedException(MigrationFailureKind.Transport, $"the source QEMU died during the migration ({_process.ExitDescription}): the VM is lost and needs a restart");
        lock (_gate)
        {
            if (_state is OutgoingMigrationState.Completed)
                return;
        }

        // The VM's own exit handler runs on another continuation: mark the VM lost first, so that nobody who
        // sees this failure reads a Running VM.
        _vm.OnExited(_process);
        Fail(OutgoingMigrationState.Failed, failure);
    }

    /// <summary>A post-copy that cannot finish: the guest's newest pages are on the destination, the rest only here, so the
    /// VM is lost. Marks it lost (the host agent reports that, with <paramref name="reason"/>) and fails the migration.</summary>
    private MigrationFailedException FailPostCopy(string reason)
    {
        if (Volatile.Read(ref _postCopyEndTimestamp) == 0)
            Volatile.Write(ref _postCopyEndTimestamp, Stopwatch.GetTimestamp());
        var remaining = LastStats?.RemainingBytes;
        var failure = new MigrationFailedException(MigrationFailureKind.PostCopyLost,
            $"post-copy failed after {PostCopyMs ?? 0:0} ms ({reason}){(remaining is > 0 ? $" with {remaining} bytes not yet sent" : string.Empty)}: neither host holds the whole guest; the VM is lost");
        _vm.MarkLost($"post-copy failed ({reason})");
        Fail(OutgoingMigrationState.Failed, failure);
        return failure;
    }

    /// <summary>Asks QEMU to switch to post-copy at its next iteration. A refusal (the migration ended, or QEMU does not
    /// allow it now) falls back to the plain forced switchover.</summary>
    private async Task StartPostCopyAsync()
    {
        try
        {
            await _process.ExecuteAsync("migrate-start-postcopy").ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is QmpConnectionException or QmpTimeoutException or QemuException or QmpCommandException)
        {
            await SetDowntimeLimitAsync(MaxDowntimeLimitMs).ConfigureAwait(false);
        }
    }

    private void Fail(OutgoingMigrationState state, MigrationFailedException failure)
    {
        lock (_gate)
        {
            if (_state is OutgoingMigrationState.Completed or OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed)
                return;
            _state = state;
        }

        _stopSampling.Cancel();
        _pre.TrySetException(failure);
        _completed.TrySetException(failure);
        _ended.TrySetResult(state.ToString());
    }
}
