using System.Diagnostics;
using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>Pre-copy as the source steers it: <c>query-migrate</c> sampling (which also judges a held switchover), the
/// pre-copy time limit and the downtime limit.</summary>
public sealed partial class QemuOutgoingMigration
{
    private async Task SampleAsync()
    {
        var token = _stopSampling.Token;
        try
        {
            while (!token.IsCancellationRequested && State is OutgoingMigrationState.PreCopy && !_process.Exited.IsCompleted)
            {
                var reply = await _process.ExecuteAsync("query-migrate", cancellationToken: token).ConfigureAwait(false);
                var stats = QemuMigrationStats.Parse(reply);
                if (State is OutgoingMigrationState.PreCopy)
                    Volatile.Write(ref _last, stats);

                // A held switchover is the control plane's to make (QemuOutgoingMigration.Switchover.cs).
                if (FitsTarget(stats))
                    _ = StopForSwitchoverAsync();
                await Task.Delay(SampleIntervalMs, token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or QmpConnectionException or QmpTimeoutException or QemuException or QmpCommandException)
        {
            // Sampling is best effort; the events carry the outcome.
        }
    }

    /// <summary>
    /// QEMU has no pre-copy time limit of its own: at <see cref="MigrationOptions.MaxPreCopyMs"/> from the start, still in
    /// pre-copy and with no switchover asked for, <see cref="MigrationOptions.LimitAction"/> applies here, as in the
    /// engine — <see cref="PreCopyLimitAction.Fail"/> cancels the migration (QEMU resumes the guest on the source) and
    /// fails it naming the limit; <see cref="PreCopyLimitAction.ForceSwitchover"/> switches over now.
    /// </summary>
    private async Task EnforceTimeLimitAsync()
    {
        var left = _options.MaxPreCopyMs - Stopwatch.GetElapsedTime(_startTimestamp).TotalMilliseconds;
        try
        {
            if (left > 0)
                await Task.Delay(TimeSpan.FromMilliseconds(left), _stopSampling.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        var elapsed = Stopwatch.GetElapsedTime(_startTimestamp).TotalMilliseconds;
        MigrationFailedException? failure = null;
        lock (_gate)
        {
            // A switchover already asked for, or being made by the control plane (held), is not aborted at the limit.
            if (_state is not OutgoingMigrationState.PreCopy || _requested || _stopping)
                return;
            if (_options.LimitAction == PreCopyLimitAction.Fail)
                failure = _limitFailure = _options.LimitFailure(SwitchoverReason.TimeLimit, Math.Max(1, _passes), elapsed, LastStats?.ExpectedDowntimeMs ?? 0, DowntimeTargetMs);
            else
                _limitReached = true;
        }

        if (failure is null)
        {
            RequestSwitchover();
            return;
        }

        try
        {
            await _process.ExecuteAsync("migrate_cancel").ConfigureAwait(false);
            await ((Task)_ended.Task).WaitAsync(CancelWait).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            Fail(OutgoingMigrationState.Failed, failure);
            await EnsureSourceRunsAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is QmpConnectionException or QmpTimeoutException or QemuException or QmpCommandException)
        {
            // QEMU went away or refused: the failure still stands; the orchestrator's cancel resumes the guest if it can.
            Fail(OutgoingMigrationState.Failed, failure);
        }
    }

    private async Task SetDowntimeLimitAsync(long limitMs)
    {
        try
        {
            await _process.ExecuteAsync("migrate-set-parameters", new JsonObject { ["downtime-limit"] = limitMs }).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is QmpConnectionException or QmpTimeoutException or QemuException or QmpCommandException)
        {
            // The migration ended meanwhile; its outcome comes from the events.
        }
    }
}
