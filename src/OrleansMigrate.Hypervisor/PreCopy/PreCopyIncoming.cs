using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>
/// The destination side of our pre-copy engine as a state machine, shared by the real engine
/// (<see cref="PreCopyDestination"/>: frames off a socket) and its analytic model
/// (<see cref="Simulated.AnalyticIncomingMigration"/>: the stream delivered as one notification):
/// <see cref="IncomingMigrationState.Listening"/> → <see cref="IncomingMigrationState.Receiving"/> →
/// <see cref="IncomingMigrationState.ReadyToResume"/> → <see cref="IncomingMigrationState.Resumed"/> (the commit point), or
/// <see cref="IncomingMigrationState.Failed"/> from anywhere before the resume, with the first failure kept. A subclass
/// supplies its transport and the guest's resume.
/// </summary>
internal abstract class PreCopyIncoming : IIncomingMigration
{
    private readonly TaskCompletionSource<IncomingResult> _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<ConsistencyReport?> _consistency = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IncomingMigrationState _state = IncomingMigrationState.Listening;
    private MigrationFailedException? _failure;

    protected PreCopyIncoming(string vmId) => VmId = vmId;

    public string VmId { get; }

    public MigrationEndpoint Endpoint { get; protected init; } = null!;

    public IncomingMigrationState State
    {
        get
        {
            lock (Sync)
                return _state;
        }
    }

    public Task<IncomingResult> Received => _received.Task;

    public Task<ConsistencyReport?> Consistency => _consistency.Task;

    /// <summary>Guards this side's state and the subclass's counters.</summary>
    protected Lock Sync { get; } = new();

    /// <summary>The first failure, once <see cref="IncomingMigrationState.Failed"/>.</summary>
    protected MigrationFailedException? Failure
    {
        get
        {
            lock (Sync)
                return _failure;
        }
    }

    /// <summary>
    /// The commit point: valid only once the whole stream was received. On a failed side it throws the failure (why the
    /// VM cannot run here); in any other state, and a second time, <see cref="InvalidOperationException"/>.
    /// </summary>
    public async Task<ResumeResult> ResumeAsync(CancellationToken cancellationToken = default)
    {
        ResumeResult resumed;
        lock (Sync)
        {
            if (_state == IncomingMigrationState.Failed)
                throw _failure ?? new MigrationFailedException(MigrationFailureKind.DestinationFailed, "The incoming migration failed.");
            if (_state != IncomingMigrationState.ReadyToResume)
                throw new InvalidOperationException($"Resume needs the whole stream received; the incoming migration is {_state}.");
            resumed = ResumeGuest();
            _state = IncomingMigrationState.Resumed;
        }

        await AfterResumeAsync().ConfigureAwait(false);
        return resumed;
    }

    public abstract Task AbortAsync(string reason, CancellationToken cancellationToken = default);

    public abstract IncomingStatistics GetStatistics();

    public abstract ValueTask DisposeAsync();

    /// <summary>Runs the guest on this host (under the state lock, so an abort cannot interleave); returns when.</summary>
    protected abstract ResumeResult ResumeGuest();

    /// <summary>After the commit point: close the stream, check the received guest, publish <see cref="Consistency"/>.</summary>
    protected abstract Task AfterResumeAsync();

    /// <summary>A source connected and was accepted: <see cref="IncomingMigrationState.Listening"/> → <see cref="IncomingMigrationState.Receiving"/>. False in any other state.</summary>
    protected bool Accept()
    {
        lock (Sync)
        {
            if (_state != IncomingMigrationState.Listening)
                return false;
            _state = IncomingMigrationState.Receiving;
            return true;
        }
    }

    /// <summary>
    /// The whole stream arrived: <see cref="IncomingMigrationState.Receiving"/> → <see cref="IncomingMigrationState.ReadyToResume"/>
    /// and <see cref="Received"/> completes with <paramref name="result"/>. False (with the state it was in) otherwise.
    /// </summary>
    protected bool MarkReceived(IncomingResult result, out IncomingMigrationState state)
    {
        lock (Sync)
        {
            state = _state;
            if (_state != IncomingMigrationState.Receiving)
                return false;
            _state = IncomingMigrationState.ReadyToResume;
        }

        _received.TrySetResult(result);
        return true;
    }

    /// <summary>
    /// The one way to <see cref="IncomingMigrationState.Failed"/>: records <paramref name="failure"/> unless resumed or
    /// failed already (or, with <paramref name="onlyFrom"/>, in another state). True when this call failed the side; the
    /// caller tears the VM down and then calls <see cref="PublishFailure"/>.
    /// </summary>
    protected bool TryFail(MigrationFailedException failure, IncomingMigrationState? onlyFrom = null)
    {
        lock (Sync)
        {
            if (_state is IncomingMigrationState.Resumed or IncomingMigrationState.Failed)
                return false;
            if (onlyFrom is { } only && _state != only)
                return false;
            _failure = failure;
            _state = IncomingMigrationState.Failed;
            return true;
        }
    }

    /// <summary>After the teardown: <see cref="Received"/> faults with the failure; <see cref="Consistency"/> has nothing to check (null).</summary>
    protected void PublishFailure()
    {
        _received.TrySetException(Failure ?? new MigrationFailedException(MigrationFailureKind.DestinationFailed, "The incoming migration failed."));
        _consistency.TrySetResult(null);
    }

    /// <summary>The check of the resumed guest: a report, or null when not checked.</summary>
    protected void PublishConsistency(ConsistencyReport? report) => _consistency.TrySetResult(report);

    /// <summary>The check of the resumed guest could not run.</summary>
    protected void PublishConsistencyFault(Exception ex) => _consistency.TrySetException(ex);
}
