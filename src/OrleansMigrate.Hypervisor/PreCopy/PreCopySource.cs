using System.Net.Sockets;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Framing;
using OrleansMigrate.Hypervisor.Sessions;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>
/// Source side of our pre-copy engine over TCP. One run task owns the state machine from the bulk round to
/// the commit or rollback; the public methods only signal it. A return-path loop reads the destination's
/// hello-ack, acknowledgement and errors.
/// </summary>
internal sealed partial class PreCopySource : IOutgoingMigration
{
    private const int QueueFrames = 4;

    private readonly IPreCopyGuest _guest;
    private readonly MigrationOptions _options;
    private int _disposed;

    /// <summary>Starts at <see cref="MigrationOptions.DowntimeTargetMs"/>; the orchestrator may raise it while pre-copy runs.</summary>
    private double _downtimeTargetMs;
    private readonly TimeProvider _time;
    private readonly Stream _stream;
    private readonly FrameWriter _writer;
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource<PreSwitchoverInfo> _preSwitchover = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<long> _finalCopyRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<FinalCopyResult> _finalCopy = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _commitRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _cancelRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<long> _acknowledged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private readonly List<RoundRecord> _rounds = [];
    private readonly List<PreLastCopyDecision> _decisions = [];
    private readonly CpuMeter _compressionCpu = new();
    private readonly int[] _pageList;
    private readonly uint[] _entries;
    private readonly List<SessionDeltaRecord> _sessionScratch = [];
    private readonly int _pagesPerFrame;
    private readonly long _startTimestamp;
    private OutgoingMigrationState _state = OutgoingMigrationState.PreCopy;
    private MigrationFailedException? _failure;
    private string? _cancelReason;
    private volatile bool _switchoverRequested;
    private volatile bool _skipPreLastCopy;
    private volatile bool _endWritten;
    private uint _sequence = 1;
    private int _round;
    private long _pagesSent;
    private long _zeroPagesSent;
    private long _compressedRawBytes;
    private long _compressedWireBytes;
    private long _measuredBytes;
    private double _measuredSeconds;
    private double _bulkBandwidth;
    private double _lastDirtyRate;
    private double _lastEstimateMs;
    private Task _run = Task.CompletedTask;
    private Task _returnPath = Task.CompletedTask;

    private PreCopySource(IPreCopyGuest guest, MigrationEndpoint destination, MigrationOptions options, TimeProvider time, Stream stream, long startTimestamp)
    {
        _guest = guest;
        _options = options;
        _downtimeTargetMs = options.DowntimeTargetMs;
        _time = time;
        _stream = stream;
        _startTimestamp = startTimestamp;
        Destination = destination;
        var bucket = options.LinkBandwidthBytesPerSecond > 0 ? new TokenBucket(options.LinkBandwidthBytesPerSecond, time) : null;
        _writer = new FrameWriter(stream, bucket, time, QueueFrames, $"migrate-out-{guest.VmId}");
        _pageList = new int[guest.Memory.PageCount];
        // About 1 ms of link time per frame keeps pacing smooth on slow links; never below 16 pages.
        var perMs = options.LinkBandwidthBytesPerSecond > 0 ? options.LinkBandwidthBytesPerSecond / 1000 / PageBatchFormat.PageSize : int.MaxValue;
        _pagesPerFrame = (int)Math.Clamp(perMs, Math.Min(16, options.MaxPagesPerFrame), options.MaxPagesPerFrame);
        _entries = new uint[_pagesPerFrame];
    }

    public string VmId => _guest.VmId;

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

    /// <summary>Connects, exchanges hello frames and starts pre-copy in the background.</summary>
    public static async Task<PreCopySource> StartAsync(IPreCopyGuest guest, MigrationEndpoint destination, MigrationOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var start = time.GetTimestamp();
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp)
        {
            NoDelay = true,
            SendBufferSize = options.SocketBufferBytes,
            ReceiveBufferSize = options.SocketBufferBytes,
        };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeoutMs);
        Stream? stream = null;
        try
        {
            await socket.ConnectAsync(destination.Host, destination.Port, timeout.Token).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (options.TransportWrapper is { } wrap)
                stream = wrap(stream);
            var source = new PreCopySource(guest, destination, options, time, stream, start);
            await source.HandshakeAsync(timeout.Token).ConfigureAwait(false);
            source.Launch();
            return source;
        }
        catch (Exception ex)
        {
            if (stream is not null)
                await stream.DisposeAsync().ConfigureAwait(false);
            else
                socket.Dispose();
            throw ex switch
            {
                MigrationFailedException => ex,
                OperationCanceledException when !cancellationToken.IsCancellationRequested =>
                    new MigrationFailedException(MigrationFailureKind.Timeout, $"No hello from {destination} within {options.ConnectTimeoutMs} ms.", ex),
                OperationCanceledException => new MigrationFailedException(MigrationFailureKind.Cancelled, "Migration start cancelled.", ex),
                FrameFormatException => new MigrationFailedException(MigrationFailureKind.Corruption, $"Bad hello from {destination}: {ex.Message}", ex),
                _ => new MigrationFailedException(MigrationFailureKind.Transport, $"Cannot open the migration stream to {destination}: {ex.Message}", ex),
            };
        }
    }

    public MigrationProgress GetProgress()
    {
        var pending = _guest.DirtyPages.CountDirty();
        lock (_lock)
        {
            return new MigrationProgress(
                _state,
                _round,
                ElapsedMs(_startTimestamp),
                _writer.BytesWritten,
                _pagesSent,
                pending,
                pending * PageBatchFormat.PageSize,
                _lastDirtyRate,
                MeasuredBandwidth(),
                _lastEstimateMs);
        }
    }

    public IReadOnlyList<RoundRecord> GetRounds()
    {
        lock (_lock)
            return [.. _rounds];
    }

    public IReadOnlyList<PreLastCopyDecision> GetPreLastCopyDecisions()
    {
        lock (_lock)
            return [.. _decisions];
    }

    public OutgoingStatistics GetStatistics()
    {
        lock (_lock)
        {
            return new OutgoingStatistics(
                _writer.BytesWritten,
                _writer.FramesWritten,
                _pagesSent,
                _zeroPagesSent,
                _compressedRawBytes,
                _compressedWireBytes,
                _compressionCpu.Seconds,
                _bulkBandwidth);
        }
    }

    public double DowntimeTargetMs => Volatile.Read(ref _downtimeTargetMs);

    public void SetDowntimeTarget(double downtimeTargetMs)
    {
        if (!double.IsFinite(downtimeTargetMs) || downtimeTargetMs is < 0.1 or > 60_000)
            throw new ArgumentOutOfRangeException(nameof(downtimeTargetMs), downtimeTargetMs, "The downtime target must be 0.1..60000 ms.");
        Volatile.Write(ref _downtimeTargetMs, downtimeTargetMs);
    }

    public void RequestSwitchover(bool skipPreLastCopy = false)
    {
        _skipPreLastCopy = skipPreLastCopy;
        _switchoverRequested = true;
    }

    public Task<FinalCopyResult> FinalCopyAsync(CancellationToken cancellationToken = default)
    {
        if (!_preSwitchover.Task.IsCompletedSuccessfully)
            throw new InvalidOperationException($"The final copy needs the VM paused at the pre-switchover point; the migration is {State}.");
        _finalCopyRequested.TrySetResult(_time.GetTimestamp());
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
        await _returnPath.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _cts.Dispose();
    }

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        var payload = new byte[ControlMessages.MaxPayloadBytes];
        var hello = new HelloMessage(HelloMessage.CurrentProtocolVersion, _guest.VmId, PageBatchFormat.PageSize, _guest.Memory.PageCount, _options.Compression);
        var length = ControlMessages.WriteHello(payload, hello);
        await FrameStream.WriteControlFrameAsync(_stream, FrameType.Hello, 0, payload.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        var header = new byte[FrameHeader.Size];
        var frame = await FrameStream.ReadControlFrameAsync(_stream, header, payload, cancellationToken).ConfigureAwait(false);
        if (frame.Sequence != 0)
            throw new MigrationFailedException(MigrationFailureKind.Protocol, $"Destination's first frame has sequence {frame.Sequence}.");
        switch (frame.Type)
        {
            case FrameType.HelloAck:
                var (accepted, message) = ControlMessages.ReadHelloAck(payload.AsSpan(0, frame.PayloadLength));
                if (!accepted)
                    throw new MigrationFailedException(MigrationFailureKind.Rejected, $"Destination {Destination} refused the stream: {message}");
                break;
            case FrameType.Error:
                var (kind, error) = ControlMessages.ReadError(payload.AsSpan(0, frame.PayloadLength));
                throw new MigrationFailedException(kind, $"Destination {Destination} failed: {error}");
            default:
                throw new MigrationFailedException(MigrationFailureKind.Protocol, $"Expected a hello-ack from {Destination}, got {frame.Type}.");
        }
    }

    private void Launch()
    {
        _writer.Start(_cts.Token);
        _returnPath = ReadReturnPathAsync();
        _run = Task.Run(RunAsync);
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
            await RunFinalCopyAsync(requestedAt, token).ConfigureAwait(false);
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
            await RollBackAsync(new OperationCanceledException(_cancelReason)).ConfigureAwait(false);
        else
            await CommitAsync().ConfigureAwait(false);
    }

    private async Task CommitAsync()
    {
        TransitionTo(OutgoingMigrationState.Completed);
        _guest.EndOutgoingCommitted();
        _writer.Complete();
        await _writer.Completion.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _cts.CancelAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
    }

    private async Task RollBackAsync(Exception cause)
    {
        var cancelled = _cancelRequested.Task.IsCompleted;
        var failure = _failure ?? (cancelled
            ? new MigrationFailedException(MigrationFailureKind.Cancelled, $"Migration cancelled: {_cancelReason}", cause)
            : Classify(cause));
        TransitionTo(cancelled && _failure is null ? OutgoingMigrationState.Cancelled : OutgoingMigrationState.Failed);
        await _cts.CancelAsync().ConfigureAwait(false);
        _writer.Complete();
        // This task was the only one reading guest memory for the migration, so the VM may run again at
        // once: a rollback inside the downtime must not wait for the socket to be torn down.
        _guest.EndOutgoingRolledBack();
        // A writer blocked on a full socket (destination not reading) only ends when the stream closes.
        var writerStopped = await Task.WhenAny(_writer.Completion, Task.Delay(TimeSpan.FromMilliseconds(500), _time)).ConfigureAwait(false) == _writer.Completion;
        if (cancelled && writerStopped)
            await TrySendAbortAsync(_cancelReason ?? "cancelled").ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        await _writer.Completion.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _returnPath.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _preSwitchover.TrySetException(failure);
        _finalCopy.TrySetException(failure);
    }

    private async Task TrySendAbortAsync(string reason)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1), _time);
        try
        {
            var payload = new byte[ControlMessages.MaxPayloadBytes];
            var length = ControlMessages.WriteText(payload, reason);
            await FrameStream.WriteControlFrameAsync(_stream, FrameType.Abort, _sequence++, payload.AsMemory(0, length), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException or NotSupportedException)
        {
            // Best effort: a destination that cannot hear the abort tears down on the closed connection anyway.
        }
    }

    private async Task ReadReturnPathAsync()
    {
        var header = new byte[FrameHeader.Size];
        var payload = new byte[ControlMessages.MaxPayloadBytes];
        uint expected = 1;
        try
        {
            while (true)
            {
                var frame = await FrameStream.ReadControlFrameAsync(_stream, header, payload, _cts.Token).ConfigureAwait(false);
                if (frame.Sequence != expected++)
                    throw new FrameFormatException($"Return-path frame #{frame.Sequence} out of order.");
                switch (frame.Type)
                {
                    case FrameType.Ack:
                        _acknowledged.TrySetResult(_time.GetTimestamp());
                        break;
                    case FrameType.Error:
                        var (kind, message) = ControlMessages.ReadError(payload.AsSpan(0, frame.PayloadLength));
                        Fail(new MigrationFailedException(
                            kind is MigrationFailureKind.Corruption or MigrationFailureKind.Protocol ? kind : MigrationFailureKind.DestinationFailed,
                            $"Destination {Destination} failed: {message}"));
                        return;
                    default:
                        throw new FrameFormatException($"Unexpected {frame.Type} frame on the return path.");
                }
            }
        }
        catch (OperationCanceledException) when (_cts.IsCancellationRequested)
        {
            // Shutting down.
        }
        catch (FrameFormatException ex)
        {
            Fail(new MigrationFailedException(MigrationFailureKind.Corruption, $"Corrupt return path from {Destination}: {ex.Message}", ex));
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or ObjectDisposedException or SocketException)
        {
            if (!_acknowledged.Task.IsCompleted)
                Fail(new MigrationFailedException(MigrationFailureKind.Transport, $"Connection to {Destination} lost: {ex.Message}", ex));
        }
    }

    /// <summary>Records the first failure and stops the data transfer; the run task rolls back.</summary>
    private void Fail(MigrationFailedException failure)
    {
        lock (_lock)
        {
            if (_failure is not null || _state is OutgoingMigrationState.Completed or OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed)
                return;
            _failure = failure;
        }

        _cts.Cancel();
    }

    private MigrationFailedException Classify(Exception ex) => ex switch
    {
        MigrationFailedException failed => failed,
        FrameFormatException => new MigrationFailedException(MigrationFailureKind.Corruption, ex.Message, ex),
        OperationCanceledException => new MigrationFailedException(MigrationFailureKind.Cancelled, "Migration cancelled.", ex),
        _ => new MigrationFailedException(MigrationFailureKind.Transport, $"Migration stream to {Destination} failed: {ex.Message}", ex),
    };

    /// <summary>The only place the phase changes; illegal transitions are bugs.</summary>
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

    private double ElapsedMs(long since) => _time.GetElapsedTime(since).TotalMilliseconds;

    private double MeasuredBandwidth()
    {
        if (_measuredSeconds > 0 && _measuredBytes >= 256 << 10)
            return _measuredBytes / _measuredSeconds;
        return _options.LinkBandwidthBytesPerSecond > 0 ? _options.LinkBandwidthBytesPerSecond : 1e9;
    }
}
