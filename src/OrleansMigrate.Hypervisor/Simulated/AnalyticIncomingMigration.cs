using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.PreCopy;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// The destination side of an analytic migration, on the engine's own state machine (<see cref="PreCopyIncoming"/>): listens at a synthetic endpoint of <see cref="AnalyticEndpoints"/>,
/// is "connected" by the source, receives the modelled stream as one notification when the source's final copy
/// ends, and resumes on the orchestrator's word. Its timestamps are on the migration's modelled clock
/// (<see cref="AnalyticClock"/>), so a downtime computed from both sides' timestamps is modelled downtime.
/// </summary>
internal sealed class AnalyticIncomingMigration : PreCopyIncoming
{
    private readonly AnalyticVm _vm;
    private readonly IncomingMigrationOptions _options;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _acceptTimeout;
    private AnalyticOutgoingMigration? _source;
    private AnalyticClock? _clock;
    private IncomingResult? _result;
    private int _disposed;

    public AnalyticIncomingMigration(AnalyticVm vm, IncomingMigrationOptions options, TimeProvider time)
        : base(vm.VmId)
    {
        _vm = vm;
        _options = options;
        _time = time;
        Endpoint = AnalyticEndpoints.Register(this);
        // Wall-clock, like the real accept timeout: it waits for the orchestrator, not for a modelled transfer.
        _acceptTimeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(options.AcceptTimeoutMs), time);
        _acceptTimeout.Token.UnsafeRegister(static state => ((AnalyticIncomingMigration)state!).AcceptTimedOut(), this);
    }

    public long PageCount => _vm.PageCount;

    public override Task AbortAsync(string reason, CancellationToken cancellationToken = default)
    {
        if (TearDown(new MigrationFailedException(MigrationFailureKind.Cancelled, $"Incoming migration aborted: {reason}"), onlyIfListening: false, out var source))
            source?.DestinationFailed($"aborted: {reason}");
        return Task.CompletedTask;
    }

    public override IncomingStatistics GetStatistics()
    {
        AnalyticOutgoingMigration? source;
        lock (Sync)
        {
            // Received: the totals; before: the source's progress so far.
            if (_result is { } result)
                return new IncomingStatistics(result.FramesReceived, result.BytesReceived, result.PagesApplied, 0, 0, 0);
            source = _source;
        }

        if (source is null)
            return new IncomingStatistics(0, 0, 0, 0, 0, 0);
        var progress = source.GetProgress();
        return new IncomingStatistics(progress.Round, progress.BytesSent, progress.PagesSent, 0, 0, 0);
    }

    public override async ValueTask DisposeAsync()
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
        lock (Sync)
        {
            if (!Accept())
                return false;
            _source = source;
        }

        _acceptTimeout.Dispose();
        return true;
    }

    /// <summary>The source's final copy ended: everything is "applied". False when this side failed meanwhile.</summary>
    internal bool Deliver(IncomingResult result, AnalyticClock clock)
    {
        lock (Sync)
        {
            if (State != IncomingMigrationState.Receiving)
                return false;
            _result = result;
            _clock = clock;
            return MarkReceived(result, out _);
        }
    }

    /// <summary>The source rolled back, failed or refused to pair: tear down (no effect after resume).</summary>
    internal void SourceEnded(MigrationFailureKind kind, string message) =>
        TearDown(new MigrationFailedException(kind, message), onlyIfListening: false, out _);

    protected override ResumeResult ResumeGuest()
    {
        _vm.ResumeIncoming();
        // The VM keeps this object until it is destroyed or moves on: hold nothing of the source's (its rounds).
        _source = null;
        return new ResumeResult(_clock!.Timestamp(_clock.NowMs()), _time.GetUtcNow());
    }

    protected override Task AfterResumeAsync()
    {
        // A modelled guest has no memory content to read, so there is no check to pass: "not checked", never "consistent".
        PublishConsistency(null);
        return Task.CompletedTask;
    }

    private void AcceptTimedOut() =>
        TearDown(new MigrationFailedException(MigrationFailureKind.Timeout, $"No source connected to {Endpoint} within {_options.AcceptTimeoutMs} ms."), onlyIfListening: true, out _);

    /// <summary>
    /// Fails this side and tears the VM down. True when this call did; then <paramref name="source"/> is the connected
    /// source, if any, for the caller to tell.
    /// </summary>
    private bool TearDown(MigrationFailedException failure, bool onlyIfListening, out AnalyticOutgoingMigration? source)
    {
        lock (Sync)
        {
            source = null;
            if (!TryFail(failure, onlyIfListening ? IncomingMigrationState.Listening : null))
                return false;
            source = _source;
            _source = null;
        }

        AnalyticEndpoints.Unregister(Endpoint, this);
        _vm.TearDownIncoming();
        PublishFailure();
        return true;
    }
}
