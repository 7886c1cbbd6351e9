using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// The source side of an analytic migration: the pre-copy engine's state machine (rounds, pre-last-copy stage,
/// pause at the pre-switchover point, final copy, commit or rollback) with every transfer computed instead of
/// sent. Round 1 carries all memory; each later round carries what the guest dirtied during the one before
/// (dirty rate × round time, capped by the working set); a round lasts its bytes over the link bandwidth
/// (at least <see cref="MinRoundMs"/>), on the migration's <see cref="AnalyticClock"/>, i.e. divided by the
/// time acceleration on the wall clock.
/// </summary>
/// <remarks>
/// Every time and rate it reports (rounds, progress, <see cref="PreSwitchoverInfo"/>, <see cref="FinalCopyResult"/>
/// timestamps, hence the downtime a <see cref="DowntimeBreakdown"/> computes from them) is modelled time, not wall
/// time; <see cref="PreSwitchoverInfo.PausedAtUtc"/> stays wall-clock for correlation. Not modelled: page content
/// (no zero pages, no compression), frame headers, the session table (no session delta) and load surges. A guest
/// whose dirty rate reaches the bandwidth never converges: its rounds repeat identically, and such a run of
/// identical rounds is waited out in one timer until a limit, a switchover request or a new downtime target.
/// </remarks>
internal sealed class AnalyticOutgoingMigration : IOutgoingMigration
{
    /// <summary>Shortest modelled round, in ms: a dirty-bitmap sync and the round-end marker are never free.</summary>
    public const double MinRoundMs = 1;

    private const int PageSize = AnalyticVm.PageSize;

    private readonly AnalyticVm _vm;
    private readonly AnalyticIncomingMigration _peer;
    private readonly MigrationOptions _options;
    private readonly TimeProvider _time;
    private readonly AnalyticClock _clock;
    private readonly double _bandwidth;
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource<PreSwitchoverInfo> _preSwitchover = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _finalCopyRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<FinalCopyResult> _finalCopy = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _commitRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _cancelRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private readonly List<RoundRun> _rounds = [];
    private readonly List<PreLastCopyDecision> _decisions = [];
    private OutgoingMigrationState _state = OutgoingMigrationState.PreCopy;
    private MigrationFailedException? _failure;
    private string? _cancelReason;
    private TaskCompletionSource? _wake;
    private int _signals;
    private volatile bool _switchoverRequested;
    private volatile bool _skipPreLastCopy;
    private volatile bool _endWritten;
    private double _downtimeTargetMs;
    private int _round;
    private long _pagesSent;
    private long _bytesSent;
    private long _pendingPages;
    private bool _inRound;
    private double _roundStartMs;
    private double _roundMs;
    private long _roundPages;
    private long _roundDirtied;
    private bool _inRun;
    private long _runMaxRounds;
    private double _lastDirtyRate;
    private double _lastEstimateMs;
    private double _bulkBandwidth;
    private int _disposed;
    private Task _run = Task.CompletedTask;

    private AnalyticOutgoingMigration(AnalyticVm vm, AnalyticIncomingMigration peer, MigrationEndpoint destination, MigrationOptions options, TimeProvider time, double acceleration)
    {
        _vm = vm;
        _peer = peer;
        _options = options;
        _time = time;
        _clock = new AnalyticClock(time, acceleration);
        _downtimeTargetMs = options.DowntimeTargetMs;
        _bandwidth = options.LinkBandwidthBytesPerSecond > 0 ? options.LinkBandwidthBytesPerSecond : MigrationOptions.DefaultLinkBandwidthBytesPerSecond;
        Destination = destination;
    }

    public string VmId => _vm.VmId;

    /// <inheritdoc/>
    /// <remarks>Recorded only: this engine's final copy is the <see cref="FinalCopyAsync"/> call, which the host runtime
    /// makes at the pause when the migration asked for it.</remarks>
    public bool ContinueAtPause { get; set; }

    public MigrationEndpoint Destination { get; }

    public OutgoingMigrationState State
    {
        get
        {
            lock (_lock)
                return _state;
        }
    }

    public Task<PreSwitchoverInfo> PreSwitchover => _preSwitchover.Task;

    public double DowntimeTargetMs => Volatile.Read(ref _downtimeTargetMs);

    /// <summary>The modelled link bandwidth in bytes/s (the option's cap; 10 Gb/s when the option is uncapped).</summary>
    public double BandwidthBytesPerSecond => _bandwidth;

    internal AnalyticClock Clock => _clock;

    /// <summary>"Connects" to the incoming migration listening at <paramref name="destination"/> and starts pre-copy in the background.</summary>
    public static AnalyticOutgoingMigration Start(AnalyticVm vm, MigrationEndpoint destination, MigrationOptions options, TimeProvider time, double acceleration)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var peer = AnalyticEndpoints.Claim(destination)
            ?? throw new MigrationFailedException(MigrationFailureKind.Transport, $"Cannot open the migration stream to {destination}: no analytic migration listens there.");
        if (!string.Equals(peer.VmId, vm.VmId, StringComparison.Ordinal) || peer.PageCount != vm.PageCount)
        {
            var why = $"stream of '{vm.VmId}' ({vm.PageCount} pages) offered to the target of '{peer.VmId}' ({peer.PageCount} pages)";
            peer.SourceEnded(MigrationFailureKind.Rejected, why);
            throw new MigrationFailedException(MigrationFailureKind.Rejected, $"Destination {destination} refused the stream: {why}.");
        }

        var outgoing = new AnalyticOutgoingMigration(vm, peer, destination, options, time, acceleration);
        if (!peer.Connect(outgoing))
            throw new MigrationFailedException(MigrationFailureKind.Transport, $"Cannot open the migration stream to {destination}: the destination is {peer.State}.");
        outgoing._run = Task.Run(outgoing.RunAsync);
        return outgoing;
    }

    public MigrationProgress GetProgress()
    {
        var now = _clock.NowMs();
        lock (_lock)
        {
            var round = _round;
            var pagesSent = _pagesSent;
            var remaining = _pendingPages;
            if (_inRound && _roundMs > 0)
            {
                var fraction = Math.Clamp((now - _roundStartMs) / _roundMs, 0, 1);
                var sent = (long)(fraction * _roundPages);
                pagesSent += sent;
                remaining = _roundPages - sent + (long)(fraction * _roundDirtied);
            }
            else if (_inRun && _roundMs > 0)
            {
                var rounds = Math.Clamp((long)((now - _roundStartMs) / _roundMs), 0, _runMaxRounds);
                round += (int)rounds;
                pagesSent += rounds * _roundPages;
            }

            return new MigrationProgress(
                _state,
                round,
                now,
                _bytesSent + ((pagesSent - _pagesSent) * PageSize),
                pagesSent,
                remaining,
                remaining * PageSize,
                _lastDirtyRate,
                _bandwidth,
                _lastEstimateMs);
        }
    }

    public IReadOnlyList<RoundRecord> GetRounds()
    {
        lock (_lock)
        {
            var rounds = new List<RoundRecord>(_round);
            foreach (var run in _rounds)
            {
                for (long i = 0; i < run.Count; i++)
                    rounds.Add(i == 0 ? run.First : run.First with { Number = run.First.Number + (int)i, StartedAtMs = run.First.StartedAtMs + (i * run.PeriodMs) });
            }

            return rounds;
        }
    }

    public IReadOnlyList<PreLastCopyDecision> GetPreLastCopyDecisions()
    {
        lock (_lock)
            return [.. _decisions];
    }

    public OutgoingStatistics GetStatistics()
    {
        lock (_lock)
            return new OutgoingStatistics(_bytesSent, _round, _pagesSent, 0, 0, 0, 0, _bulkBandwidth);
    }

    public void SetDowntimeTarget(double downtimeTargetMs)
    {
        if (!double.IsFinite(downtimeTargetMs) || downtimeTargetMs is < 0.1 or > 60_000)
            throw new ArgumentOutOfRangeException(nameof(downtimeTargetMs), downtimeTargetMs, "The downtime target must be 0.1..60000 ms.");
        Volatile.Write(ref _downtimeTargetMs, downtimeTargetMs);
        Wake();
    }

    public void RequestSwitchover(bool skipPreLastCopy = false)
    {
        _skipPreLastCopy = skipPreLastCopy;
        _switchoverRequested = true;
        Wake();
    }

    public Task<FinalCopyResult> FinalCopyAsync(CancellationToken cancellationToken = default)
    {
        if (!_preSwitchover.Task.IsCompletedSuccessfully)
            throw new InvalidOperationException($"The final copy needs the VM paused at the pre-switchover point; the migration is {State}.");
        _finalCopyRequested.TrySetResult();
        return _finalCopy.Task.WaitAsync(cancellationToken);
    }

    public async Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (_state == OutgoingMigrationState.Completed)
                return;
            if (_state != OutgoingMigrationState.AwaitingCommit)
                throw new InvalidOperationException($"Complete is valid after the final copy was sent; the migration is {_state}.");
        }

        _commitRequested.TrySetResult();
        await _run.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task CancelAsync(string reason, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (_state == OutgoingMigrationState.Completed)
                throw new InvalidOperationException("The migration was committed; it can only roll forward.");
            _cancelReason ??= reason;
        }

        _cancelRequested.TrySetResult();
        if (!_endWritten)
            await _cts.CancelAsync().ConfigureAwait(false);
        await _run.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        var terminal = State is OutgoingMigrationState.Completed or OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed;
        if (!terminal)
            await CancelAsync("outgoing migration disposed").ConfigureAwait(false);
        await _run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _cts.Dispose();
        // A rolled-back VM stays on this host: it keeps no rounds of a disposed migration.
        if (ReferenceEquals(_vm.Outgoing, this))
            _vm.Outgoing = null;
    }

    /// <summary>The destination failed or was aborted: before the end of the final copy the source rolls back.</summary>
    internal void DestinationFailed(string message)
    {
        lock (_lock)
        {
            if (_failure is not null || _endWritten || _state is OutgoingMigrationState.Completed or OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed)
                return;
            _failure = new MigrationFailedException(MigrationFailureKind.DestinationFailed, $"Destination {Destination} failed: {message}");
        }

        // Asynchronously: the caller (the destination's abort) must not run the rollback on its own stack.
        _ = _cts.CancelAsync();
        Wake();
    }

    private void Wake()
    {
        TaskCompletionSource? wake;
        lock (_lock)
        {
            _signals++;
            wake = _wake;
        }

        wake?.TrySetResult();
    }

    /// <summary>The whole life of the migration, as the real engine's run task: any fault before the end of the final copy rolls back.</summary>
    private async Task RunAsync()
    {
        try
        {
            var token = _cts.Token;
            await PreCopyAsync(token).ConfigureAwait(false);
            await _finalCopyRequested.Task.WaitAsync(token).ConfigureAwait(false);
            await RunFinalCopyAsync(token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await RollBackAsync(ex).ConfigureAwait(false);
            return;
        }

        await Task.WhenAny(_commitRequested.Task, _cancelRequested.Task).ConfigureAwait(false);
        if (_cancelRequested.Task.IsCompleted)
        {
            await RollBackAsync(new OperationCanceledException(_cancelReason)).ConfigureAwait(false);
        }
        else
        {
            TransitionTo(OutgoingMigrationState.Completed);
            _vm.EndOutgoingCommitted();
        }
    }

    private async Task PreCopyAsync(CancellationToken cancellationToken)
    {
        _vm.BeginOutgoing();
        var preCopyStart = _clock.NowMs();
        var round = await SendRoundAsync(RoundStage.PreCopy, _vm.PageCount, cancellationToken).ConfigureAwait(false);
        lock (_lock)
            _bulkBandwidth = round.BandwidthBytesPerSecond;

        SwitchoverReason reason;
        while (true)
        {
            var signals = Volatile.Read(ref _signals);
            if (_switchoverRequested)
            {
                reason = SwitchoverReason.Requested;
                break;
            }

            if (round.EstimatedDowntimeMs <= DowntimeTargetMs)
            {
                reason = SwitchoverReason.Converged;
                break;
            }

            var elapsed = _clock.NowMs() - preCopyStart;
            if (_round >= _options.MaxRounds || elapsed >= _options.MaxPreCopyMs)
            {
                reason = _round >= _options.MaxRounds ? SwitchoverReason.RoundLimit : SwitchoverReason.TimeLimit;
                if (_options.LimitAction == PreCopyLimitAction.Fail)
                {
                    throw _options.LimitFailure(reason, _round, elapsed, round.EstimatedDowntimeMs, DowntimeTargetMs, " (modelled)");
                }

                break;
            }

            var pages = Volatile.Read(ref _pendingPages);
            if (pages == round.Pages)
            {
                // A fixed point: every next round repeats this one until a limit or a signal.
                var untilLimit = Math.Min(_options.MaxRounds - _round, (long)Math.Ceiling((_options.MaxPreCopyMs - elapsed) / round.DurationMs));
                if (untilLimit > 2)
                {
                    await RepeatRoundAsync(round, round.DurationMs, untilLimit - 1, signals, cancellationToken).ConfigureAwait(false);
                    continue;
                }
            }

            round = await SendRoundAsync(RoundStage.PreCopy, pages, cancellationToken).ConfigureAwait(false);
        }

        var preCopyMs = _clock.NowMs() - preCopyStart;
        var stageStart = _clock.NowMs();
        if (!_options.PreLastCopy.Enabled || (_switchoverRequested && _skipPreLastCopy))
        {
            var why = _options.PreLastCopy.Enabled ? "switchover requested with the stage skipped" : "pre-last-copy disabled";
            RecordDecision(stageStart, round.DirtyRateBytesPerSecond, Volatile.Read(ref _pendingPages) * PageSize, round.EstimatedDowntimeMs, PreLastCopyVerdict.Skipped, why, fold: false);
        }
        else
        {
            TransitionTo(OutgoingMigrationState.PreLastCopy);
            await PreLastCopyAsync(stageStart, reason, cancellationToken).ConfigureAwait(false);
        }

        await _clock.SettleAsync(cancellationToken).ConfigureAwait(false);
        var pauseMs = _clock.NowMs();
        var preLastCopyMs = pauseMs - stageStart;
        var pauseRequested = _clock.Timestamp(pauseMs);
        var pausedAtUtc = _time.GetUtcNow();
        _vm.PauseForSwitchover();
        TransitionTo(OutgoingMigrationState.PreSwitchover);
        var pending = Volatile.Read(ref _pendingPages);
        var estimate = EstimateDowntimeMs(pending);
        lock (_lock)
            _lastEstimateMs = estimate;
        _preSwitchover.TrySetResult(new PreSwitchoverInfo(reason, _round, pending, estimate, preCopyMs, preLastCopyMs, pauseRequested, pauseRequested, pausedAtUtc));
    }

    /// <summary>The pre-last-copy stage, as the real engine's, with the guest's modelled (constant) dirty rate.</summary>
    private async Task PreLastCopyAsync(double stageStart, SwitchoverReason reason, CancellationToken cancellationToken)
    {
        var plc = _options.PreLastCopy;
        while (true)
        {
            var signals = Volatile.Read(ref _signals);
            if (_switchoverRequested && _skipPreLastCopy)
            {
                RecordDecision(stageStart, _lastDirtyRate, Volatile.Read(ref _pendingPages) * PageSize, _lastEstimateMs, PreLastCopyVerdict.Skipped, "switchover requested with the stage skipped", fold: false);
                return;
            }

            var round = await SendRoundAsync(RoundStage.PreLastCopy, Volatile.Read(ref _pendingPages), cancellationToken).ConfigureAwait(false);
            var rate = round.DirtyRateBytesPerSecond;
            var pendingPages = Volatile.Read(ref _pendingPages);
            var estimate = EstimateDowntimeMs(pendingPages);
            var elapsed = _clock.NowMs() - stageStart;
            var target = DowntimeTargetMs;
            var pendingBytes = pendingPages * PageSize;
            if (estimate <= target && elapsed >= plc.ObservationWindowMs)
            {
                RecordDecision(stageStart, rate, pendingBytes, estimate, PreLastCopyVerdict.Proceed,
                    $"estimated final copy {estimate:F2} ms fits the {target} ms target after {elapsed:F0} ms in the stage (pre-copy stopped: {reason}); dirty rate {rate / 1e6:F1} MB/s", fold: false);
                return;
            }

            if (elapsed >= plc.MaxWaitMs)
            {
                RecordDecision(stageStart, rate, pendingBytes, estimate, PreLastCopyVerdict.GiveUp,
                    $"max wait {plc.MaxWaitMs} ms reached with estimated final copy {estimate:F2} ms > target {target} ms; switching over anyway", fold: false);
                return;
            }

            RecordDecision(stageStart, rate, pendingBytes, estimate, PreLastCopyVerdict.Wait, estimate > target
                ? $"surge: estimated final copy {estimate:F2} ms > target {target} ms at dirty rate {rate / 1e6:F1} MB/s; iterating"
                : $"estimate {estimate:F2} ms fits; observing the dirty rate for the {plc.ObservationWindowMs} ms window", fold: true);

            var pollMs = round.Pages < 16 && plc.PollIntervalMs > 0 ? plc.PollIntervalMs : 0;
            if (pollMs > 0)
            {
                // The guest keeps dirtying while the stage waits between near-empty rounds.
                await _clock.AdvanceAsync(pollMs, cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _pendingPages, _vm.PagesDirtiedIn((round.DurationMs + pollMs) / 1000));
            }

            if (Volatile.Read(ref _pendingPages) == round.Pages)
            {
                var period = round.DurationMs + pollMs;
                var limit = estimate <= target ? Math.Min(plc.ObservationWindowMs, plc.MaxWaitMs) : plc.MaxWaitMs;
                var untilLimit = (long)Math.Ceiling((limit - (_clock.NowMs() - stageStart)) / period);
                if (untilLimit > 2)
                {
                    var repeated = await RepeatRoundAsync(round, period, untilLimit - 1, signals, cancellationToken).ConfigureAwait(false);
                    lock (_lock)
                    {
                        if (_decisions.Count > 0)
                            _decisions[^1] = _decisions[^1] with { Checks = _decisions[^1].Checks + (int)Math.Min(repeated, int.MaxValue - _decisions[^1].Checks) };
                    }
                }
            }
        }
    }

    /// <summary>
    /// Sends <paramref name="pages"/> (modelled): the round lasts their bytes over the bandwidth, and the guest dirties
    /// rate × that time (capped by the working set), which is what the next round or the final copy carries.
    /// </summary>
    private async Task<RoundRecord> SendRoundAsync(RoundStage stage, long pages, CancellationToken cancellationToken)
    {
        var bytes = pages * PageSize;
        var durationMs = Math.Max(bytes / _bandwidth * 1000, MinRoundMs);
        var dirtied = _vm.PagesDirtiedIn(durationMs / 1000);
        int number;
        lock (_lock)
        {
            number = ++_round;
            _inRound = true;
            _roundStartMs = _clock.NowMs();
            _roundMs = durationMs;
            _roundPages = pages;
            _roundDirtied = dirtied;
        }

        var startedAtMs = await _clock.AdvanceAsync(durationMs, cancellationToken).ConfigureAwait(false);
        var seconds = durationMs / 1000;
        var estimate = EstimateDowntimeMs(dirtied);
        var record = new RoundRecord(number, stage, startedAtMs, durationMs, pages, 0, bytes, 0, dirtied, dirtied * (double)PageSize / seconds, bytes / seconds, estimate);
        lock (_lock)
        {
            _inRound = false;
            _pagesSent += pages;
            _bytesSent += bytes;
            _pendingPages = dirtied;
            _rounds.Add(new RoundRun(record, 1, durationMs));
            _lastDirtyRate = record.DirtyRateBytesPerSecond;
            _lastEstimateMs = estimate;
        }

        return record;
    }

    /// <summary>
    /// Up to <paramref name="maxRounds"/> more rounds identical to <paramref name="template"/>, one every
    /// <paramref name="periodMs"/>, waited out in one timer; cut short by a signal after <paramref name="signals"/>.
    /// Returns how many rounds were recorded.
    /// </summary>
    private async Task<long> RepeatRoundAsync(RoundRecord template, double periodMs, long maxRounds, int signals, CancellationToken cancellationToken)
    {
        Task wake;
        lock (_lock)
        {
            if (_signals != signals)
                return 0;
            _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            wake = _wake.Task;
            _inRun = true;
            _roundStartMs = _clock.NowMs();
            _roundMs = periodMs;
            _roundPages = template.Pages;
            _runMaxRounds = maxRounds;
        }

        var (start, count) = await _clock.AdvanceRunAsync(periodMs, maxRounds, wake, cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            _wake = null;
            _inRun = false;
            var first = template with { Number = _round + 1, StartedAtMs = start };
            _round += (int)count;
            _pagesSent += count * template.Pages;
            _bytesSent += count * template.WireBytes;
            _rounds.Add(new RoundRun(first, count, periodMs));
        }

        return count;
    }

    /// <summary>The stop-and-copy: the pending pages and the device state over the bandwidth, on the modelled clock.</summary>
    private async Task RunFinalCopyAsync(CancellationToken cancellationToken)
    {
        TransitionTo(OutgoingMigrationState.FinalCopy);
        var pages = Volatile.Read(ref _pendingPages);
        var pageBytes = pages * PageSize;
        var device = _vm.DeviceStateBytes;
        var pagesMs = pageBytes / _bandwidth * 1000;
        var totalMs = pagesMs + (device / _bandwidth * 1000);
        lock (_lock)
        {
            ++_round;
            _inRound = true;
            _roundStartMs = _clock.NowMs();
            _roundMs = totalMs;
            _roundPages = pages;
            _roundDirtied = 0;
        }

        var started = await _clock.AdvanceAsync(totalMs, cancellationToken).ConfigureAwait(false);
        long pagesSent;
        long bytesSent;
        lock (_lock)
        {
            if (_failure is { } failure)
                throw failure;
            _endWritten = true;
            _inRound = false;
            _pagesSent += pages;
            _bytesSent += pageBytes + device;
            _pendingPages = 0;
            pagesSent = _pagesSent;
            bytesSent = _bytesSent;
        }

        var end = _clock.Timestamp(started + totalMs);
        var pagesAt = _clock.Timestamp(started + pagesMs);
        // Awaiting the commit before the destination hears of it: the orchestrator may resume it and complete
        // this side the moment it has received everything.
        TransitionTo(OutgoingMigrationState.AwaitingCommit);
        // One "frame" per round plus the device state and the end marker.
        if (!_peer.Deliver(new IncomingResult(_round + 2, bytesSent, pagesSent, 0, 0, 0, end), _clock))
        {
            lock (_lock)
                _failure ??= new MigrationFailedException(MigrationFailureKind.DestinationFailed, $"Destination {Destination} failed before it received the final copy ({_peer.State}).");
            throw _failure;
        }

        _finalCopy.TrySetResult(new FinalCopyResult(pages, 0, pageBytes, pageBytes + device, 0, device, 0, 0, 0,
            _clock.Timestamp(started), pagesAt, pagesAt, end, end, end));
    }

    private async Task RollBackAsync(Exception cause)
    {
        var cancelled = _cancelRequested.Task.IsCompleted;
        MigrationFailedException failure;
        lock (_lock)
        {
            failure = _failure ?? (cancelled
                ? new MigrationFailedException(MigrationFailureKind.Cancelled, $"Migration cancelled: {_cancelReason}", cause)
                : cause as MigrationFailedException ?? new MigrationFailedException(MigrationFailureKind.Transport, $"Migration to {Destination} failed: {cause.Message}", cause));
        }

        TransitionTo(cancelled && _failure is null ? OutgoingMigrationState.Cancelled : OutgoingMigrationState.Failed);
        await _cts.CancelAsync().ConfigureAwait(false);
        _vm.EndOutgoingRolledBack();
        _peer.SourceEnded(
            cancelled ? MigrationFailureKind.SourceAborted : MigrationFailureKind.Transport,
            cancelled ? $"source aborted: {_cancelReason}" : $"source failed: {failure.Message}");
        _preSwitchover.TrySetException(failure);
        _finalCopy.TrySetException(failure);
    }

    private void RecordDecision(double stageStart, double rate, long pendingBytes, double estimate, PreLastCopyVerdict verdict, string reason, bool fold)
    {
        var now = _clock.NowMs();
        var record = new PreLastCopyDecision(now, now - stageStart, rate, pendingBytes, estimate, verdict, reason, 1);
        lock (_lock)
        {
            if (fold && _decisions.Count > 0 && _decisions[^1] is { } last && last.Verdict == verdict && SameKind(last.Reason, reason))
                _decisions[^1] = record with { Checks = last.Checks + 1 };
            else
                _decisions.Add(record);
        }

        static bool SameKind(string a, string b) => a.StartsWith("surge", StringComparison.Ordinal) == b.StartsWith("surge", StringComparison.Ordinal);
    }

    /// <summary>Downtime if the VM paused now: pending pages and the device state over the bandwidth, plus the fixed switchover overhead.</summary>
    private double EstimateDowntimeMs(long pendingPages) =>
        (((pendingPages * (double)PageSize) + _vm.DeviceStateBytes) / _bandwidth * 1000) + _options.SwitchoverOverheadMs;

    /// <summary>The only place the phase changes; the same transitions as the real engine's.</summary>
    private void TransitionTo(OutgoingMigrationState next)
    {
        lock (_lock)
        {
            var allowed = (_state, next) switch
            {
                (OutgoingMigrationState.PreCopy, OutgoingMigrationState.PreLastCopy or OutgoingMigrationState.PreSwitchover) => true,
                (OutgoingMigrationState.PreLastCopy, OutgoingMigrationState.PreSwitchover) => true,
                (OutgoingMigrationState.PreSwitchover, OutgoingMigrationState.FinalCopy) => true,
                (OutgoingMigrationState.FinalCopy, OutgoingMigrationState.AwaitingCommit) => true,
                (OutgoingMigrationState.AwaitingCommit, OutgoingMigrationState.Completed) => true,
                (not (OutgoingMigrationState.Completed or OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed), OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed) => true,
                _ => false,
            };
            if (!allowed)
                throw new InvalidOperationException($"Outgoing migration of '{VmId}' cannot go from {_state} to {next}.");
            _state = next;
        }
    }

    /// <summary><paramref name="Count"/> identical rounds from <paramref name="First"/>, one every <paramref name="PeriodMs"/>.</summary>
    private sealed record RoundRun(RoundRecord First, long Count, double PeriodMs);
}
