using System.Net.Sockets;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Framing;
using OrleansMigrate.Hypervisor.Sessions;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>
/// Source side of our pre-copy engine over TCP: the transfers (page, session-delta and control frames through a
/// paced writer) under the state machine of <see cref="PreCopyOutgoing"/>, which the analytic model shares. A
/// return-path loop reads the destination's hello-ack, acknowledgement and errors.
/// </summary>
internal sealed partial class PreCopySource : PreCopyOutgoing
{
    private const int QueueFrames = 4;

    private readonly IPreCopyGuest _guest;
    private readonly Stream _stream;
    private readonly FrameWriter _writer;
    private readonly TaskCompletionSource<long> _acknowledged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CpuMeter _compressionCpu = new();
    private readonly int[] _pageList;
    private readonly uint[] _entries;
    private readonly List<SessionDeltaRecord> _sessionScratch = [];
    private readonly int _pagesPerFrame;
    private readonly long _startTimestamp;
    private uint _sequence = 1;
    private long _pagesSent;
    private long _zeroPagesSent;
    private long _compressedRawBytes;
    private long _compressedWireBytes;
    private long _measuredBytes;
    private double _measuredSeconds;
    private Task _returnPath = Task.CompletedTask;

    private PreCopySource(IPreCopyGuest guest, MigrationEndpoint destination, MigrationOptions options, TimeProvider time, Stream stream, long startTimestamp)
        : base(guest.VmId, destination, options, time)
    {
        _guest = guest;
        _stream = stream;
        _startTimestamp = startTimestamp;
        var bucket = options.LinkBandwidthBytesPerSecond > 0 ? new TokenBucket(options.LinkBandwidthBytesPerSecond, time) : null;
        _writer = new FrameWriter(stream, bucket, time, QueueFrames, $"migrate-out-{guest.VmId}");
        _pageList = new int[guest.Memory.PageCount];
        // About 1 ms of link time per frame keeps pacing smooth on slow links; never below 16 pages.
        var perMs = options.LinkBandwidthBytesPerSecond > 0 ? options.LinkBandwidthBytesPerSecond / 1000 / PageBatchFormat.PageSize : int.MaxValue;
        _pagesPerFrame = (int)Math.Clamp(perMs, Math.Min(16, options.MaxPagesPerFrame), options.MaxPagesPerFrame);
        _entries = new uint[_pagesPerFrame];
    }

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
            source.StartTransport();
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

    public override MigrationProgress GetProgress()
    {
        var pending = _guest.DirtyPages.CountDirty();
        lock (Sync)
            return Progress(RoundCount, NowMs(), _writer.BytesWritten, _pagesSent, pending, MeasuredBandwidth());
    }

    public override OutgoingStatistics GetStatistics()
    {
        lock (Sync)
        {
            return new OutgoingStatistics(
                _writer.BytesWritten,
                _writer.FramesWritten,
                _pagesSent,
                _zeroPagesSent,
                _compressedRawBytes,
                _compressedWireBytes,
                _compressionCpu.Seconds,
                BulkBandwidth);
        }
    }

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        var payload = new byte[ControlMessages.MaxPayloadBytes];
        var hello = new HelloMessage(HelloMessage.CurrentProtocolVersion, _guest.VmId, PageBatchFormat.PageSize, _guest.Memory.PageCount, Options.Compression);
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

    private void StartTransport()
    {
        _writer.Start(Stopping);
        _returnPath = ReadReturnPathAsync();
        Launch();
    }

    protected override double NowMs() => Time.GetElapsedTime(_startTimestamp).TotalMilliseconds;

    protected override long PendingPages() => _guest.DirtyPages.CountDirty();

    protected override void BeginOutgoing() => _guest.BeginOutgoing();

    protected override (long Requested, long Paused) PauseGuest(double atMs)
    {
        var requested = Time.GetTimestamp();
        _guest.PauseForSwitchover();
        return (requested, Time.GetTimestamp());
    }

    protected override async Task OnCommittedAsync()
    {
        _guest.EndOutgoingCommitted();
        _writer.Complete();
        await _writer.Completion.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await StopAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
    }

    protected override async Task OnRolledBackAsync(bool cancelled, string? cancelReason, MigrationFailedException failure)
    {
        _writer.Complete();
        // This task was the only one reading guest memory for the migration, so the VM may run again at
        // once: a rollback inside the downtime must not wait for the socket to be torn down.
        _guest.EndOutgoingRolledBack();
        // A writer blocked on a full socket (destination not reading) only ends when the stream closes.
        var writerStopped = await Task.WhenAny(_writer.Completion, Task.Delay(TimeSpan.FromMilliseconds(500), Time)).ConfigureAwait(false) == _writer.Completion;
        if (cancelled && writerStopped)
            await TrySendAbortAsync(cancelReason ?? "cancelled").ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        await _writer.Completion.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _returnPath.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    protected override async Task OnDisposedAsync() => await _returnPath.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

    protected override MigrationFailedException Classify(Exception ex) => ex is FrameFormatException
        ? new MigrationFailedException(MigrationFailureKind.Corruption, ex.Message, ex)
        : base.Classify(ex);


    private async Task TrySendAbortAsync(string reason)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1), Time);
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
                var frame = await FrameStream.ReadControlFrameAsync(_stream, header, payload, Stopping).ConfigureAwait(false);
                if (frame.Sequence != expected++)
                    throw new FrameFormatException($"Return-path frame #{frame.Sequence} out of order.");
                switch (frame.Type)
                {
                    case FrameType.Ack:
                        _acknowledged.TrySetResult(Time.GetTimestamp());
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
        catch (OperationCanceledException) when (Stopping.IsCancellationRequested)
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

    /// <summary>A failure the return path saw: recorded even after the end marker (the run task decides by its kind).</summary>
    private void Fail(MigrationFailedException failure) => Fail(failure, evenAfterEnd: true);

    private double MeasuredBandwidth()
    {
        if (_measuredSeconds > 0 && _measuredBytes >= 256 << 10)
            return _measuredBytes / _measuredSeconds;
        return Options.LinkBandwidthBytesPerSecond > 0 ? Options.LinkBandwidthBytesPerSecond : 1e9;
    }
}
