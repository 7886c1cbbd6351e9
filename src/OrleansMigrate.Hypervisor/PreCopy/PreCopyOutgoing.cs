using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Framing;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>
/// The source side of our pre-copy engine as a state machine, shared by the real engine (<see cref="PreCopySource"/>:
/// guest memory over TCP) and its analytic model (<see cref="Simulated.AnalyticOutgoingMigration"/>: transfers computed
/// on a modelled clock), so the scale benchmarks cannot drift from the engine. One run task owns the lifecycle from the
/// bulk round to the commit or rollback; the public methods only signal it. Here: the phases and their legal
/// transitions, the orchestrator's requests (downtime target, switchover, final copy, commit, cancel), the rollback on
/// any fault before the end marker, the pre-copy loop's stop rules and the pre-last-copy stage's verdicts (see the
/// <c>Stages</c> part), and the records (rounds, decisions, progress). A subclass supplies its clock
/// (<see cref="NowMs"/>) and its transfers (<see cref="SendRoundAsync"/>, <see cref="CopyFinalAsync"/>).
/// </summary>
internal abstract partial class PreCopyOutgoing : IOutgoingMigration
{
    /// <summary>Bytes of one guest page, as the engine and the model count them.</summary>
    protected const int PageSize = PageBatchFormat.PageSize;

    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource<PreSwitchoverInfo> _preSwitchover = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<long> _finalCopyRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<FinalCopyResult> _finalCopy = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _commitRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _cancelRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
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
    private double _lastDirtyRate;
    private double _lastEstimateMs;
    private double _bulkBandwidth;
    private int _disposed;
    private Task _run = Task.CompletedTask;

    /// <param name="vmId">The migrating VM.</param>
    /// <param name="destination">Where the stream goes.</param>
    /// <param name="options">Validated options.</param>
    /// <param name="time">The wall clock (<see cref="PreSwitchoverInfo.PausedAtUtc"/>, the final-copy request's timestamp).</param>
    protected PreCopyOutgoing(string vmId, MigrationEndpoint destination, MigrationOptions options, TimeProvider time)
    {
        VmId = vmId;
        Destination = destination;
        Options = options;
        Time = time;
        _downtimeTargetMs = options.DowntimeTargetMs;
    }

    public string VmId { get; }

    public MigrationEndpoint Destination { get; }

    /// <inheritdoc/>
    /// <remarks>Recorded only: this engine's final copy is the <see cref="FinalCopyAsync"/> call, which the host runtime
    /// makes at the pause when the migration asked for it.</remarks>
    public bool ContinueAtPause { get; set; }

    public OutgoingMigrationState State
    {
        get
        {
            lock (Sync)
                return _state;
        }
    }

    public Task<PreSwitchoverInfo> PreSwitchover => _preSwitchover.Task;

    public double DowntimeTargetMs => Volatile.Read(ref _downtimeTargetMs);

    /// <summary>Guards this side's state and the subclass's counters.</summary>
    protected Lock Sync { get; } = new();

    protected MigrationOptions Options { get; }

    protected TimeProvider Time { get; }

    /// <summary>Cancelled when the migration stops (rollback, commit, a recorded failure).</summary>
    protected CancellationToken Stopping => _cts.Token;

    /// <summary>Rounds so far, the final copy included once it started.</summary>
    protected int RoundCount => Volatile.Read(ref _round);

    /// <summary>Bandwidth of the bulk (first) round, bytes/s.</summary>
    protected double BulkBandwidth
    {
        get
        {
            lock (Sync)
                return _bulkBandwidth;
        }
    }

    /// <summary>How many times a request (switchover, downtime target) or a failure signalled the run task.</summary>
    protected int Signals => Volatile.Read(ref _signals);

    public IReadOnlyList<RoundRecord> GetRounds()
    {
        lock (Sync)
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
        lock (Sync)
            return [.. _decisions];
    }

    public abstract MigrationProgress GetProgress();

    public abstract OutgoingStatistics GetStatistics();

    public void SetDowntimeTarget(double downtimeTargetMs)
    {
        if (!double.IsFinite(downtimeTargetMs) || downtimeTargetMs is < 0.1 or > 60_000)
            throw new ArgumentOutOfRangeException(nameof(downtimeTargetMs), downtimeTargetMs, "The downtime target must be 0.1..60000 ms.");
        Volatile.Write(ref _downtimeTargetMs, downtimeTargetMs);
        Signal();
    }

    public void RequestSwitchover(bool skipPreLastCopy = false)
    {
        _skipPreLastCopy = skipPreLastCopy;
        _switchoverRequested = true;
        Signal();
    }

    public Task<FinalCopyResult> FinalCopyAsync(CancellationToken cancellationToken = default)
    {
        if (!_preSwitchover.Task.IsCompletedSuccessfully)
            throw new InvalidOperationException($"The final copy needs the VM paused at the pre-switchover point; the migration is {State}.");
        _finalCopyRequested.TrySetResult(Time.GetTimestamp());
        return _finalCopy.Task.WaitAsync(cancellationToken);
    }

    public async Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        lock (Sync)
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
        lock (Sync)
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
        if (!IsTerminal(State))
            await CancelAsync("outgoing migration disposed").ConfigureAwait(false);
        await _run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await OnDisposedAsync().ConfigureAwait(false);
        _cts.Dispose();
    }

    /// <summary>Cancels <see cref="Stopping"/> (the transport's loops end).</summary>
    protected Task StopAsync() => _cts.CancelAsync();

    /// <summary>Starts the run task (once the transport, if any, is up).</summary>
    protected void Launch() => _run = Task.Run(RunAsync);

    /// <summary>
    /// Records the first failure and stops the transfers; the run task rolls back, or after the end marker decides by
    /// the failure's kind. Ignored once the migration ended, and unless <paramref name="evenAfterEnd"/> once the end
    /// marker left. True when recorded.
    /// </summary>
    protected bool Fail(MigrationFailedException failure, bool evenAfterEnd)
    {
        lock (Sync)
        {
            if (_failure is not null || (_endWritten && !evenAfterEnd) || IsTerminal(_state))
                return false;
            _failure = failure;
        }

        // Asynchronously: the caller (a return path, the destination's abort) must not run the rollback on its own stack.
        _ = _cts.CancelAsync();
        Signal();
        return true;
    }

    /// <summary>
    /// The end marker left: from now on only the orchestrator decides (commit or cancel). With
    /// <paramref name="unlessFailed"/>, a failure recorded before throws instead (the transfer did not end).
    /// </summary>
    protected void MarkEndWritten(bool unlessFailed)
    {
        lock (Sync)
        {
            if (unlessFailed && _failure is { } failure)
                throw failure;
            _endWritten = true;
        }
    }

    /// <summary>
    /// A task that completes at the next signal after <paramref name="signals"/> (a switchover request, a new downtime
    /// target, a failure), or null when one came already: for a model that waits out many identical rounds in one timer.
    /// </summary>
    protected Task? ArmWake(int signals)
    {
        lock (Sync)
        {
            if (_signals != signals)
                return null;
            _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _wake.Task;
        }
    }

    protected void DisarmWake()
    {
        lock (Sync)
            _wake = null;
    }

    /// <summary>Takes the next round number.</summary>
    protected int NextRound() => Interlocked.Increment(ref _round);

    /// <summary>Records a finished round; its dirty rate and estimate become the latest.</summary>
    protected void RecordRound(RoundRecord record)
    {
        lock (Sync)
        {
            _rounds.Add(new RoundRun(record, 1, record.DurationMs));
            _lastDirtyRate = record.DirtyRateBytesPerSecond;
            _lastEstimateMs = record.EstimatedDowntimeMs;
        }
    }

    /// <summary>Records <paramref name="count"/> more rounds identical to <paramref name="template"/>, the first at
    /// <paramref name="startedAtMs"/>, one every <paramref name="periodMs"/>.</summary>
    protected void RecordRepeatedRounds(RoundRecord template, double startedAtMs, long count, double periodMs)
    {
        lock (Sync)
        {
            var first = template with { Number = _round + 1, StartedAtMs = startedAtMs };
            _round += (int)count;
            _rounds.Add(new RoundRun(first, count, periodMs));
        }
    }

    /// <summary>A progress snapshot: the subclass's counters with this side's phase, latest dirty rate and estimate.</summary>
    protected MigrationProgress Progress(int round, double elapsedMs, long bytesSent, long pagesSent, long pagesRemaining, double bandwidth)
    {
        lock (Sync)
            return new MigrationProgress(_state, round, elapsedMs, bytesSent, pagesSent, pagesRemaining, pagesRemaining * PageSize, _lastDirtyRate, bandwidth, _lastEstimateMs);
    }

    /// <summary>The clock every time this side reports is on: ms since the migration started.</summary>
    protected abstract double NowMs();

    /// <summary>Pages dirtied since the last round, i.e. what the next round or the final copy carries.</summary>
    protected abstract long PendingPages();

    /// <summary>Downtime if the VM paused now with <paramref name="pendingPages"/> to copy, in ms.</summary>
    protected abstract double EstimateDowntimeMs(long pendingPages);

    /// <summary>Starts dirty tracking on the guest (before the first round).</summary>
    protected abstract void BeginOutgoing();

    /// <summary>
    /// Sends one round: every page (the bulk round) or the pages dirtied since the last one, and measures what the
    /// guest dirtied meanwhile. Takes its number from <see cref="NextRound"/> and records it with <see cref="RecordRound"/>.
    /// </summary>
    protected abstract Task<RoundRecord> SendRoundAsync(RoundStage stage, bool everyPage, CancellationToken cancellationToken);

    /// <summary>Pauses the guest at the pre-switchover point (modelled time <paramref name="atMs"/>); returns the timestamps
    /// of the pause request and of the pause.</summary>
    protected abstract (long Requested, long Paused) PauseGuest(double atMs);

    /// <summary>
    /// The stop-and-copy inside the downtime (the phase is <see cref="OutgoingMigrationState.FinalCopy"/>): the last dirty
    /// pages and the device state, then the end marker (<see cref="MarkEndWritten"/>) and the destination's acknowledgement.
    /// </summary>
    protected abstract Task<FinalCopyResult> CopyFinalAsync(long requestedAt, CancellationToken cancellationToken);

    /// <summary>The VM stays on the destination: the source stops for good and releases its transport.</summary>
    protected abstract Task OnCommittedAsync();

    /// <summary>
    /// The VM runs on the source again: release the guest at once, tell the destination (an abort when
    /// <paramref name="cancelled"/>, for <paramref name="cancelReason"/>) and release the transport.
    /// </summary>
    protected abstract Task OnRolledBackAsync(bool cancelled, string? cancelReason, MigrationFailedException failure);

    /// <summary>Runs once after the run task ended at disposal.</summary>
    protected virtual Task OnDisposedAsync() => Task.CompletedTask;

    /// <summary>Right after the phase became <see cref="OutgoingMigrationState.AwaitingCommit"/>, before the final copy's
    /// result is published: a model hands the stream to its destination here. Throwing rolls back.</summary>
    protected virtual void OnAwaitingCommit()
    {
    }

    /// <summary>Turns a fault of the run task into the migration's failure.</summary>
    protected virtual MigrationFailedException Classify(Exception ex) => ex switch
    {
        MigrationFailedException failed => failed,
        OperationCanceledException => new MigrationFailedException(MigrationFailureKind.Cancelled, "Migration cancelled.", ex),
        _ => new MigrationFailedException(MigrationFailureKind.Transport, $"Migration stream to {Destination} failed: {ex.Message}", ex),
    };

    private static bool IsTerminal(OutgoingMigrationState state) =>
        state is OutgoingMigrationState.Completed or OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed;

    private void Signal()
    {
        TaskCompletionSource? wake;
        lock (Sync)
        {
            _signals++;
            wake = _wake;
        }

        wake?.TrySetResult();
    }

    /// <summary>
    /// The whole life of the migration. Before the end marker is on the wire any fault rolls back (the VM
    /// resumes on the source). After it, only the orchestrator decides: commit or cancel.
    /// </summary>
    private async Task RunAsync()
    {
        try
        {
            var token = _cts.Token;
            await PreCopyAsync(token).ConfigureAwait(false);
            var requestedAt = await _finalCopyRequested.Task.WaitAsync(token).ConfigureAwait(false);
            TransitionTo(OutgoingMigrationState.FinalCopy);
            var result = await CopyFinalAsync(requestedAt, token).ConfigureAwait(false);
            TransitionTo(OutgoingMigrationState.AwaitingCommit);
            OnAwaitingCommit();
            _finalCopy.TrySetResult(result);
        }
        catch (Exception ex) when (!_endWritten)
        {
            await RollBackAsync(ex).ConfigureAwait(false);
            return;
        }
        catch (Exception ex)
        {
            // The end marker left: the destination may hold the whole VM. Only a definite refusal from it
            // allows rolling back on our own; anything else waits for the orchestrator.
            if (_failure is { Kind: MigrationFailureKind.DestinationFailed or MigrationFailureKind.Corruption or MigrationFailureKind.Protocol })
            {
                await RollBackAsync(ex).ConfigureAwait(false);
                return;
            }

            TransitionTo(OutgoingMigrationState.AwaitingCommit);
            _finalCopy.TrySetException(new MigrationFailedException(
                MigrationFailureKind.Indeterminate,
                $"The final copy was sent but not acknowledged ({ex.Message}). The VM stays paused on the source: complete if the destination reports it received everything, else cancel.",
                ex));
        }

        await Task.WhenAny(_commitRequested.Task, _cancelRequested.Task).ConfigureAwait(false);
        if (_cancelRequested.Task.IsCompleted)
        {
            await RollBackAsync(new OperationCanceledException(_cancelReason)).ConfigureAwait(false);
        }
        else
        {
            TransitionTo(OutgoingMigrationState.Completed);
            await OnCommittedAsync().ConfigureAwait(false);
        }
    }

    private async Task RollBackAsync(Exception cause)
    {
        var cancelled = _cancelRequested.Task.IsCompleted;
        MigrationFailedException failure;
        bool failed;
        string? reason;
        lock (Sync)
        {
            failed = _failure is not null;
            reason = _cancelReason;
            failure = _failure ?? (cancelled
                ? new MigrationFailedException(MigrationFailureKind.Cancelled, $"Migration cancelled: {reason}", cause)
                : Classify(cause));
        }

        TransitionTo(cancelled && !failed ? OutgoingMigrationState.Cancelled : OutgoingMigrationState.Failed);
        await _cts.CancelAsync().ConfigureAwait(false);
        await OnRolledBackAsync(cancelled, reason, failure).ConfigureAwait(false);
        _preSwitchover.TrySetException(failure);
        _finalCopy.TrySetException(failure);
    }

    /// <summary>The only place the phase changes; illegal transitions are bugs.</summary>
    private void TransitionTo(OutgoingMigrationState next)
    {
        lock (Sync)
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
