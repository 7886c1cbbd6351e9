using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>
/// The source side of a QEMU migration. Reacts to QMP events (never polls inside the downtime): <c>STOP</c> starts
/// the downtime, <c>pre-switchover</c> completes <see cref="PreSwitchover"/>, <c>completed</c> ends the final copy.
/// Pre-copy progress is sampled with <c>query-migrate</c> until the guest stops.
/// </summary>
public sealed partial class QemuOutgoingMigration : IOutgoingMigration
{
    private const long MaxDowntimeLimitMs = 60_000;
    private static readonly TimeSpan CancelWait = TimeSpan.FromSeconds(15);

    private readonly QemuHypervisorDriver _driver;
    private readonly QemuVm _vm;
    private readonly QemuProcess _process;
    private readonly MigrationOptions _options;
    private readonly TaskCompletionSource<PreSwitchoverInfo> _pre = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<long> _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<long> _postCopyActive = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<RoundRecord> _rounds = [];
    private readonly CancellationTokenSource _stopSampling = new();
    private readonly IDisposable _subscription;
    private readonly long _startTimestamp = Stopwatch.GetTimestamp();
    private readonly object _gate = new();
    private OutgoingMigrationState _state = OutgoingMigrationState.PreCopy;
    private QemuMigrationStats? _last;
    private Task<QemuMigrationStats?>? _finalStats;
    private Task<FinalCopyResult>? _finalCopy;
    private long _stopTimestamp;
    private long _preSwitchoverTimestamp;
    private long _continueTimestamp;
    private long _completedTimestamp;
    private DateTimeOffset _stopUtc;
    private int _passes;
    private bool _requested;
    private bool _limitReached;
    private bool _postCopyRequested;
    private long _postCopyActiveTimestamp;
    private long _postCopyEndTimestamp;
    private MigrationFailedException? _limitFailure;
    private double _downtimeTarget;

    internal QemuOutgoingMigration(QemuHypervisorDriver driver, QemuVm vm, QemuProcess process, MigrationEndpoint destination, MigrationOptions options)
    {
        _driver = driver;
        _vm = vm;
        _process = process;
        _options = options;
        _downtimeTarget = options.DowntimeTargetMs;
        Destination = destination;
        _subscription = process.Subscribe(OnEvent);
        _ = process.Exited.ContinueWith(_ => OnProcessExited(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public string VmId => _vm.Spec.VmId;

    public MigrationEndpoint Destination { get; }

    public OutgoingMigrationState State
    {
        get
        {
            lock (_gate)
                return _state;
        }
    }

    public Task<PreSwitchoverInfo> PreSwitchover => _pre.Task;

    /// <summary>
    /// Sends <c>migrate-continue</c> from the QMP event pump the moment <c>pre-switchover</c> arrives (parallel
    /// switchover), with no thread-pool hop inside the downtime; <see cref="FinalCopyAsync"/> then joins that run.
    /// The destination (<c>-S</c>) still waits for its own resume, so the commit stays with the orchestrator.
    /// </summary>
    public bool ContinueAtPause { get; set; }

    public double DowntimeTargetMs => Volatile.Read(ref _downtimeTarget);

    /// <summary>QEMU's final numbers (downtime, total, setup, transferred…), read after completion: re-queried until
    /// QEMU has filled in the total time and downtime. Null until the final copy completed.</summary>
    public Task<QemuMigrationStats?> FinalStats => _finalStats ?? Task.FromResult<QemuMigrationStats?>(null);

    /// <summary>The last <c>query-migrate</c> sample (pre-copy) or the final numbers.</summary>
    public QemuMigrationStats? LastStats => Volatile.Read(ref _last);

    /// <summary>How long QEMU sat in <c>pre-switchover</c> before our <c>migrate-continue</c> went out (the control
    /// plane's hold inside the downtime), in ms; null until the final copy started.</summary>
    public double? PauseHoldMs => _continueTimestamp == 0 || _preSwitchoverTimestamp == 0 ? null : Stopwatch.GetElapsedTime(_preSwitchoverTimestamp, _continueTimestamp).TotalMilliseconds;

    /// <summary>From the source's STOP event to its <c>pre-switchover</c> event, in ms: QEMU stopping vCPUs, draining and
    /// flushing block I/O — and, when the control plane paused the guest itself (<see cref="TryRunBeforePause"/>), sending
    /// the RAM still dirty, which QEMU's own downtime figure then leaves out.</summary>
    public double? StopToPreSwitchoverMs => _stopTimestamp == 0 || _preSwitchoverTimestamp == 0 ? null : Stopwatch.GetElapsedTime(_stopTimestamp, _preSwitchoverTimestamp).TotalMilliseconds;

    /// <summary>From <c>migrate-continue</c> to the source's <c>completed</c> (QEMU's device stage), in ms; null until completed.</summary>
    public double? DeviceStageMs => _continueTimestamp == 0 || _completedTimestamp == 0 ? null : Stopwatch.GetElapsedTime(_continueTimestamp, _completedTimestamp).TotalMilliseconds;

    /// <summary>QEMU's own figures for this migration (the last <c>query-migrate</c> sample, or the final numbers) and the
    /// switchover's stage times; null before the first sample.</summary>
    public HypervisorStatistics? HypervisorStatistics() =>
        LastStats is { } s
            ? new HypervisorStatistics(s.DowntimeMs, s.TotalTimeMs, s.SetupTimeMs, s.TransferredBytes, s.DirtySyncCount, s.DirtyRateBytesPerSecond,
                s.BandwidthBytesPerSecond, s.CpuThrottlePercent, PauseHoldMs, DeviceStageMs, StopToPreSwitchoverMs, _options.MigrationChannels, PostCopyMs)
            : null;

    /// <summary>The switchover as this side saw it, on the wall clock (QEMU's monotonic receive times carried over to UTC):
    /// <c>stop sent</c> (a switchover the control plane made), <c>pre-switchover event</c>, <c>continue sent</c>,
    /// <c>completed</c> — those that happened.</summary>
    public IReadOnlyList<(string Step, DateTimeOffset AtUtc)> SwitchoverTimes() => [.. SwitchoverTimesNow()];

    private IEnumerable<(string Step, DateTimeOffset AtUtc)> SwitchoverTimesNow()
    {
        var now = DateTimeOffset.UtcNow;
        var at = Stopwatch.GetTimestamp();
        DateTimeOffset Utc(long ts) => now - Stopwatch.GetElapsedTime(ts, at);
        if (Volatile.Read(ref _stopSentTimestamp) is var stopSent and not 0)
            yield return ("stop sent", Utc(stopSent));
        if (Volatile.Read(ref _preSwitchoverTimestamp) is var pre and not 0)
            yield return ("pre-switchover event", Utc(pre));
        if (Volatile.Read(ref _continueTimestamp) is var cont and not 0)
            yield return ("continue sent", Utc(cont));
        if (Volatile.Read(ref _completedTimestamp) is var done and not 0)
            yield return ("completed", Utc(done));
    }

    /// <summary>True once the migration switched to post-copy (the source's <c>postcopy-active</c>): from then on the
    /// destination runs on pages it pulls from the source, and a failure of either side loses the VM.</summary>
    public bool PostCopyStarted => Volatile.Read(ref _postCopyActiveTimestamp) != 0;

    /// <summary>How long post-copy ran, in ms: from the source's <c>postcopy-active</c> to its <c>completed</c> (or to the
    /// failure that ended it; until now while it runs); null when the migration never switched to post-copy.</summary>
    public double? PostCopyMs
    {
        get
        {
            var start = Volatile.Read(ref _postCopyActiveTimestamp);
            if (start == 0)
                return null;
            var end = Volatile.Read(ref _postCopyEndTimestamp);
            return Stopwatch.GetElapsedTime(start, end == 0 ? Stopwatch.GetTimestamp() : end).TotalMilliseconds;
        }
    }

    /// <summary>QMP timestamp of the source's STOP event: the start of the downtime as QEMU saw it.</summary>
    public DateTimeOffset StoppedAtUtc => _stopUtc;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var bandwidth = _options.LinkBandwidthBytesPerSecond == 0 ? 100_000_000_000L : _options.LinkBandwidthBytesPerSecond;
        var parameters = new JsonObject
        {
            ["downtime-limit"] = DowntimeLimit(_options.DowntimeTargetMs),
            ["max-bandwidth"] = bandwidth,
        };

        // Post-copy has its own cap (0, QEMU's default, is none): the same link.
        if (_options.PostCopy)
            parameters["max-postcopy-bandwidth"] = bandwidth;
        await _process.ExecuteAsync("migrate-set-parameters", parameters, cancellationToken).ConfigureAwait(false);
        var host = Destination.Host.Contains(':', StringComparison.Ordinal) ? $"[{Destination.Host}]" : Destination.Host;
        await _process.ExecuteAsync("migrate", new JsonObject { ["uri"] = $"tcp:{host}:{Destination.Port.ToString(CultureInfo.InvariantCulture)}" }, cancellationToken).ConfigureAwait(false);
        _ = SampleAsync();
        _ = EnforceTimeLimitAsync();
    }

    public MigrationProgress GetProgress()
    {
        var s = LastStats;
        var elapsed = Stopwatch.GetElapsedTime(_startTimestamp).TotalMilliseconds;
        if (s is null)
            return new MigrationProgress(State, Math.Max(1, _passes), elapsed, 0, 0, 0, 0, 0, 0, 0);
        var remainingPages = s.PageSize > 0 ? s.RemainingBytes / s.PageSize : 0;
        return new MigrationProgress(State, (int)Math.Max(1, Math.Max(_passes, s.DirtySyncCount)), elapsed, s.TransferredBytes, s.NormalPages + s.DuplicatePages,
            remainingPages, s.RemainingBytes, s.DirtyRateBytesPerSecond, s.BandwidthBytesPerSecond, s.ExpectedDowntimeMs ?? 0);
    }

    public IReadOnlyList<RoundRecord> GetRounds()
    {
        lock (_rounds)
            return [.. _rounds];
    }

    /// <summary>QEMU has no pre-last-copy stage: convergence is steered by the downtime limit and auto-converge.</summary>
    public IReadOnlyList<PreLastCopyDecision> GetPreLastCopyDecisions() => [];

    public void SetDowntimeTarget(double downtimeTargetMs)
    {
        if (!double.IsFinite(downtimeTargetMs) || downtimeTargetMs is < 0.1 or > 60_000)
            throw new ArgumentOutOfRangeException(nameof(downtimeTargetMs), downtimeTargetMs, "downtime target must be 0.1..60000 ms");
        Volatile.Write(ref _downtimeTarget, downtimeTargetMs);

        // Held (TryRunBeforePause), QEMU keeps its 1 ms limit: the samples are judged against the new target instead.
        if (!Holding)
            _ = SetDowntimeLimitAsync(DowntimeLimit(downtimeTargetMs));
    }

    /// <summary>QEMU 7.2 has no "switch over now": a downtime limit of a minute makes the next iteration switch over. With
    /// <see cref="MigrationOptions.PostCopy"/> the switch is to post-copy instead (<c>migrate-start-postcopy</c>): the next
    /// iteration stops the guest, and after the pause only the device state is sent before the destination may run. A
    /// switchover the control plane holds (<see cref="TryRunBeforePause"/>) is made as its own: the caller's work first,
    /// then <c>stop</c>.</summary>
    public void RequestSwitchover(bool skipPreLastCopy = false)
    {
        bool postCopy;
        lock (_gate)
        {
            _requested = true;
            postCopy = _options.PostCopy && !_postCopyRequested && _state is OutgoingMigrationState.PreCopy;
            _postCopyRequested |= postCopy;
        }

        _ = postCopy ? StartPostCopyAsync() : Holding ? StopForSwitchoverAsync() : SetDowntimeLimitAsync(MaxDowntimeLimitMs);
    }

    public Task<FinalCopyResult> FinalCopyAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_finalCopy is not null)
                return _finalCopy;
            if (!_pre.Task.IsCompletedSuccessfully || _state != OutgoingMigrationState.PreSwitchover)
                throw new InvalidOperationException($"final copy needs the VM paused for switchover; the migration is {_state}.");
            _state = OutgoingMigrationState.FinalCopy;
            _finalCopy = RunFinalCopyAsync();
            return _finalCopy;
        }
    }

    public async Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        // After a switch to post-copy the destination runs on pages it still pulls from here: the source is done only
        // when QEMU sent the last one. A failure before that leaves neither host with the whole guest.
        if (PostCopyStarted)
            await WaitPostCopyAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            if (_state == OutgoingMigrationState.Completed)
                return;
            if (_state != OutgoingMigrationState.AwaitingCommit)
                throw new InvalidOperationException($"complete needs the final copy done; the migration is {_state}.");
        }

        // QEMU's own numbers are read now, off the critical path; bounded.
        await ((Task)FinalStats).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_gate)
            _state = OutgoingMigrationState.Completed;
        _vm.State = VmState.PostMigrate;
        _subscription.Dispose();
    }

    public async Task CancelAsync(string reason, CancellationToken cancellationToken = default)
    {
        OutgoingMigrationState state;
        lock (_gate)
            state = _state;
        switch (state)
        {
            case OutgoingMigrationState.Completed:
                throw new InvalidOperationException("the migration committed: the VM runs on the destination");
            case OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed:
                await EnsureSourceRunsAsync(cancellationToken).ConfigureAwait(false);
                return;
        }

        if (_process.Exited.IsCompleted)
        {
            Fail(OutgoingMigrationState.Failed, new MigrationFailedException(MigrationFailureKind.Transport, $"source QEMU is gone: {_process.ExitDescription}"));
            return;
        }

        if (state == OutgoingMigrationState.AwaitingCommit && PostCopyStarted)
        {
            // Post-copy before the destination ran: QEMU cannot cancel it, but the source still holds every page the
            // guest wrote. Once the source has pushed the rest, it resumes from postmigrate as after a pre-copy; a
            // post-copy that fails first leaves the guest lost (WaitPostCopyAsync says so and marks it).
            await WaitPostCopyAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (state != OutgoingMigrationState.AwaitingCommit)
        {
            await _process.ExecuteAsync("migrate_cancel", cancellationToken: cancellationToken).ConfigureAwait(false);

            // QEMU ends the migration (cancelled, or failed, or — a race — completed) and resumes the guest itself.
            await ((Task)_ended.Task).WaitAsync(CancelWait, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        Fail(OutgoingMigrationState.Cancelled, new MigrationFailedException(MigrationFailureKind.Cancelled, $"cancelled: {reason}"));
        await EnsureSourceRunsAsync(cancellationToken).ConfigureAwait(false);
    }

    public OutgoingStatistics GetStatistics()
    {
        var s = LastStats;
        return s is null
            ? new OutgoingStatistics(0, 0, 0, 0, 0, 0, 0, 0)
            : new OutgoingStatistics(s.TransferredBytes, 0, s.NormalPages + s.DuplicatePages, s.DuplicatePages, 0, 0, 0, s.BandwidthBytesPerSecond);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopSampling.CancelAsync().ConfigureAwait(false);
        _subscription.Dispose();
        _stopSampling.Dispose();
    }

    private static long DowntimeLimit(double ms) => Math.Clamp((long)Math.Ceiling(ms), 1, MaxDowntimeLimitMs);

    /// <summary>After a cancel (or a failure) the guest must run on the source: QEMU resumes it itself when it was
    /// running, and from <c>postmigrate</c> (a final copy that completed but was never committed) we resume it.</summary>
    private async Task EnsureSourceRunsAsync(CancellationToken cancellationToken)
    {
        // A lost guest (its QEMU died, or a post-copy failed) is never resumed.
        if (_process.Exited.IsCompleted || _vm.State == VmState.Lost)
            return;

        // What the caller did before the pause (a relay) is undone before the guest may run here again.
        UndoBeforePause();
        var status = (await _process.ExecuteAsync("query-status", cancellationToken: cancellationToken).ConfigureAwait(false))?["status"]?.GetValue<string>();
        if (status is "paused" or "postmigrate" or "finish-migrate")
            await _process.ExecuteAsync("cont", cancellationToken: cancellationToken).ConfigureAwait(false);
        _vm.State = VmState.Running;
    }

    private async Task<FinalCopyResult> RunFinalCopyAsync()
    {
        var started = Stopwatch.GetTimestamp();
        Volatile.Write(ref _continueTimestamp, started);
        await _process.ExecuteAsync("migrate-continue", new JsonObject { ["state"] = "pre-switchover" }).ConfigureAwait(false);
        long completed;
        bool postCopy;
        try
        {
            // After a switch to post-copy the final copy is the device state alone: the destination may run once the
            // source reports postcopy-active. QEMU may also have completed a plain pre-copy before it saw the switch.
            var done = await Task.WhenAny(_completed.Task, _postCopyActive.Task).WaitAsync(TimeSpan.FromMilliseconds(_options.AckTimeoutMs)).ConfigureAwait(false);
            completed = await done.ConfigureAwait(false);
            postCopy = done == _postCopyActive.Task;
        }
        catch (TimeoutException)
        {
            // The destination is still paused (-S): cancelling is safe and resumes the source.
            await CancelAsync($"QEMU did not complete the final copy within {_options.AckTimeoutMs} ms").ConfigureAwait(false);
            throw new MigrationFailedException(MigrationFailureKind.Timeout, $"QEMU did not complete the final copy within {_options.AckTimeoutMs} ms; the source was resumed");
        }

        if (!postCopy)
            _finalStats = ReadFinalStatsAsync();
        return new FinalCopyResult(0, 0, 0, 0, 0, 0, 0, 0, 0, started, completed, completed, completed, completed, completed);
    }

    /// <summary>Waits (at most <see cref="MigrationOptions.PostCopyTimeoutMs"/>) until post-copy sent the last page. A post-copy
    /// that fails or times out marks the guest lost and throws <see cref="MigrationFailureKind.PostCopyLost"/>.</summary>
    private async Task WaitPostCopyAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _completed.Task.WaitAsync(TimeSpan.FromMilliseconds(_options.PostCopyTimeoutMs), cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw FailPostCopy($"post-copy did not send the last page within {_options.PostCopyTimeoutMs} ms");
        }

        _finalStats ??= ReadFinalStatsAsync();
    }

    /// <summary>Right after <c>completed</c> QEMU may still report no downtime: re-query until the totals are set (bounded).</summary>
    private async Task<QemuMigrationStats?> ReadFinalStatsAsync()
    {
        QemuMigrationStats? stats = null;
        for (var i = 0; i < 200 && !_process.Exited.IsCompleted; i++)
        {
            try
            {
                stats = QemuMigrationStats.Parse(await _process.ExecuteAsync("query-migrate").ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is QmpConnectionException or QmpTimeoutException or QemuException)
            {
                break;
            }

            Volatile.Write(ref _last, stats);
            if (stats.TotalTimeMs is > 0 && stats.DowntimeMs is > 0)
                break;
            await Task.Delay(5).ConfigureAwait(false);
        }

        return stats;
    }
}
