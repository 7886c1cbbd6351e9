using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// The destination side of an analytic migration: listens at a synthetic endpoint of <see cref="AnalyticEndpoints"/>,
/// is "connected" by the source, receives the modelled stream as one notification when the source's final copy
/// ends, and resumes on the orchestrator's word. Its timestamps are on the migration's modelled clock
/// (<see cref="AnalyticClock"/>), so a downtime computed from both sides' timestamps is modelled downtime.
/// </summary>
internal sealed class AnalyticIncomingMigration : IIncomingMigration
{
    private readonly AnalyticVm _vm;
    private readonly IncomingMigrationOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource<IncomingResult> _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<ConsistencyReport?> _consistency = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _acceptTimeout;
    private IncomingMigrationState _state = IncomingMigrationState.Listening;
    private AnalyticOutgoingMigration? _source;
    private AnalyticClock? _clock;
    private IncomingResult? _result;
    private ResumeResult? _resumed;
    private int _disposed;

    public AnalyticIncomingMigration(AnalyticVm vm, IncomingMigrationOptions options, TimeProvider time)
    {
        _vm = vm;
        _options = options;
        _time = time;
        Endpoint = AnalyticEndpoints.Register(this);
        // Wall-clock, like the real accept timeout: it waits for the orchestrator, not for a modelled transfer.
        _acceptTimeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(options.AcceptTimeoutMs), time);
        _acceptTimeout.Token.UnsafeRegister(static state => ((AnalyticIncomingMigration)state!).AcceptTimedOut(), this);
    }

    public string VmId => _vm.VmId;

    public long PageCount => _vm.PageCount;

    public MigrationEndpoint Endpoint { get; }

    public IncomingMigrationState State
    {
        get
        {
            lock (_lock)
                return _state;
        }
    }

    public Task<IncomingResult> Received => _received.Task;

    public Task<ConsistencyReport?> Consistency => _consistency.Task;

    public Task<ResumeResult> ResumeAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (_resumed is not null)
                return Task.FromResult(_resumed);
            if (_state != IncomingMigrationState.ReadyToResume)
                throw new InvalidOperationException($"The destination VM can resume once the stream was received; the incoming migration is {_state}.");
            _vm.ResumeIncoming();
            _state = IncomingMigrationState.Resumed;
            _resumed = new ResumeResult(_clock!.Timestamp(_clock.NowMs()), _time.GetUtcNow());
            // The VM keeps this object until it is destroyed or moves on: hold nothing of the source's (its rounds).
            _source = null;
        }

        // A modelled guest has no memory content to read, so there is no check to pass: "not checked", never "consistent".
        _consistency.TrySetResult(null);
        return Task.FromResult(_resumed);
    }

    public Task AbortAsync(string reason, CancellationToken cancellationToken = default)
    {
        if (TearDown(new MigrationFailedException(MigrationFailureKind.Cancelled, $"Incoming migration aborted: {reason}"), onlyIfListening: false, out var source))
            source?.DestinationFailed($"aborted: {reason}");
        return Task.CompletedTask;
    }

    public IncomingStatistics GetStatistics()
    {
        IncomingResult? result;
        AnalyticOutgoingMigration? source;
        lock (_lock)
        {
            result = _result;
            source = _source;
        }

        if (result is not null)
            return new IncomingStatistics(result.FramesReceived, result.BytesReceived, result.PagesApplied, 0, 0, 0);
        if (source is null)
            return new IncomingStatistics(0, 0, 0, 0, 0, 0);
        var progress = source.GetProgress();
        return new IncomingStatistics(progress.Round, progress.BytesSent, progress.PagesSent, 0, 0, 0);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        if (State is not (IncomingMigrationState.Resumed or IncomingMigrationState.Failed))
            await AbortAsync("incoming migration disposed").ConfigureAwait(false);
        _acceptTimeout.Dispose();
        // A disposed side is no longer the VM's business: a fleet of VMs that each arrived once keeps none of them.
        if (ReferenceEquals(_vm.Incoming, this))
            _vm.Incoming = null;
    }

    /// <summary>The source claimed this endpoint. False when this side already failed.</summary>
    internal bool Connect(AnalyticOutgoingMigration source)
    {
        lock (_lock)
        {
            if (_state != IncomingMigrationState.Listening)
                return false;
            _state = IncomingMigrationState.Receiving;
            _source = source;
        }

        _acceptTimeout.Dispose();
        return true;
    }

    /// <summary>The source's final copy ended: everything is "applied". False when this side failed meanwhile.</summary>
    internal bool Deliver(IncomingResult result, AnalyticClock clock)
    {
        lock (_lock)
        {
            if (_state != IncomingMigrationState.Receiving)
                return false;
            _state = IncomingMigrationState.ReadyToResume;
            _result = result;
            _clock = clock;
        }

        _received.TrySetResult(result);
        return true;
    }

    /// <summary>The source rolled back, failed or refused to pair: tear down (no effect after resume).</summary>
    internal void SourceEnded(MigrationFailureKind kind, string message) =>
        TearDown(new MigrationFailedException(kind, message), onlyIfListening: false, out _);

    private void AcceptTimedOut() =>
        TearDown(new MigrationFailedException(MigrationFailureKind.Timeout, $"No source connected to {Endpoint} within {_options.AcceptTimeoutMs} ms."), onlyIfListening: true, out _);

    /// <summary>
    /// The one way to <see cref="IncomingMigrationState.Failed"/>. True when this call tore the VM down; then
    /// <paramref name="source"/> is the connected source, if any, for the caller to tell.
    /// </summary>
    private bool TearDown(MigrationFailedException failure, bool onlyIfListening, out AnalyticOutgoingMigration? source)
    {
        lock (_lock)
        {
            source = null;
            if (_state is IncomingMigrationState.Resumed or IncomingMigrationState.Failed)
                return false;
            if (onlyIfListening && _state != IncomingMigrationState.Listening)
                return false;
            _state = IncomingMigrationState.Failed;
            source = _source;
            _source = null;
        }

        AnalyticEndpoints.Unregister(Endpoint, this);
        _vm.TearDownIncoming();
        _received.TrySetException(failure);
        _consistency.TrySetException(failure);
        return true;
    }
}
