using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Framing;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>
/// Destination side of our pre-copy engine. A receive loop reads frames off the socket and hands them
/// through a bounded channel to an apply worker that verifies, decompresses and applies them, so
/// decompression overlaps the receive. Any fault tears the destination VM down and tells the source. Its states
/// are those of <see cref="PreCopyIncoming"/>, which the analytic model shares.
/// </summary>
internal sealed partial class PreCopyDestination : PreCopyIncoming
{
    private readonly IPreCopyTarget _target;
    private int _disposed;
    private readonly IncomingMigrationOptions _options;
    private readonly TimeProvider _time;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _cts = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CpuMeter _decompressionCpu = new();
    private readonly Channel<InboundFrame> _frames;
    private Stream? _stream;
    private Socket? _socket;
    private uint _returnSequence;
    private long _framesReceived;
    private long _bytesReceived;
    private long _pagesApplied;
    private long _zeroPagesApplied;
    private long _sessionEntriesApplied;
    private Task _run = Task.CompletedTask;

    private PreCopyDestination(IPreCopyTarget target, IncomingMigrationOptions options, TimeProvider time, Socket listener, MigrationEndpoint endpoint)
        : base(target.VmId)
    {
        _target = target;
        _options = options;
        _time = time;
        _listener = listener;
        Endpoint = endpoint;
        _frames = Channel.CreateBounded<InboundFrame>(new BoundedChannelOptions(options.ApplyQueueFrames)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Binds the listener and starts waiting for the source in the background.</summary>
    public static PreCopyDestination Listen(IPreCopyTarget target, IncomingMigrationOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (!IPAddress.TryParse(options.ListenAddress, out var address))
            throw new ArgumentException($"ListenAddress '{options.ListenAddress}' is not an IP address.", nameof(options));
        var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
        {
            ReceiveBufferSize = options.SocketBufferBytes,
            SendBufferSize = options.SocketBufferBytes,
        };
        try
        {
            listener.Bind(new IPEndPoint(address, options.Port));
            listener.Listen(1);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        var bound = (IPEndPoint)listener.LocalEndPoint!;
        var host = options.AdvertisedHost ?? bound.Address.ToString();
        var destination = new PreCopyDestination(target, options, time, listener, new MigrationEndpoint(host, bound.Port));
        destination._run = Task.Run(destination.RunAsync);
        return destination;
    }

    public override IncomingStatistics GetStatistics()
    {
        lock (Sync)
            return new IncomingStatistics(_framesReceived, _bytesReceived, _pagesApplied, _zeroPagesApplied, _sessionEntriesApplied, _decompressionCpu.Seconds);
    }

    public override async Task AbortAsync(string reason, CancellationToken cancellationToken = default)
    {
        Fail(new MigrationFailedException(MigrationFailureKind.Cancelled, $"Incoming migration aborted: {reason}"));
        await _run.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override ResumeResult ResumeGuest()
    {
        _target.ResumeIncoming();
        return new ResumeResult(_time.GetTimestamp(), _time.GetUtcNow());
    }

    protected override async Task AfterResumeAsync()
    {
        // The stream is done; closing it ends the receive loop (not a failure once resumed).
        await _cts.CancelAsync().ConfigureAwait(false);
        _ = Task.Run(() =>
        {
            try
            {
                ConsistencyReport? report = _options.VerifyConsistency ? _target.VerifyReceived() : null;
                _target.StartGuestActivity();
                PublishConsistency(report);
            }
            catch (Exception ex)
            {
                PublishConsistencyFault(ex);
            }
        }, CancellationToken.None);
    }

    public override async ValueTask DisposeAsync()
    {
        // Both the host agent (once a migration is verified) and the driver (at shutdown) dispose it.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        if (State != IncomingMigrationState.Resumed)
            Fail(new MigrationFailedException(MigrationFailureKind.Cancelled, "Incoming migration disposed."));
        else
            await _cts.CancelAsync().ConfigureAwait(false);
        await _run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _cts.Dispose();
        _writeLock.Dispose();
    }

    private async Task RunAsync()
    {
        var token = _cts.Token;
        try
        {
            using (var accept = CancellationTokenSource.CreateLinkedTokenSource(token))
            {
                accept.CancelAfter(_options.AcceptTimeoutMs);
                Socket socket;
                try
                {
                    socket = await _listener.AcceptAsync(accept.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!token.IsCancellationRequested)
                {
                    throw new MigrationFailedException(MigrationFailureKind.Timeout, $"No source connected to {Endpoint} within {_options.AcceptTimeoutMs} ms.");
                }
                finally
                {
                    _listener.Dispose();
                }

                socket.NoDelay = true;
                socket.ReceiveBufferSize = _options.SocketBufferBytes;
                socket.SendBufferSize = _options.SocketBufferBytes;
                Stream stream = new NetworkStream(socket, ownsSocket: true);
                if (_options.TransportWrapper is { } wrap)
                    stream = wrap(stream);
                lock (Sync)
                {
                    _stream = stream;
                    _socket = socket;
                }
                await HandshakeAsync(stream, accept.Token).ConfigureAwait(false);
            }

            var apply = Task.Run(() => ApplyLoopAsync(token), CancellationToken.None);
            var receive = ReceiveLoopAsync(_stream!, token);
            await Task.WhenAll(apply, receive).ConfigureAwait(false);
            ReleaseScratch();
        }
        catch (Exception ex)
        {
            Fail(Classify(ex));
        }

        if (State != IncomingMigrationState.Failed)
        {
            await CloseStreamAsync().ConfigureAwait(false);
            return;
        }

        ReleaseScratch();
        if (await TrySendErrorAsync().ConfigureAwait(false))
            await DrainBeforeCloseAsync().ConfigureAwait(false);
        await CloseStreamAsync().ConfigureAwait(false);
        while (_frames.Reader.TryRead(out var leftover))
            FrameBuffers.Return(leftover.Buffer);
        _target.TearDownIncoming(Failure?.Message ?? "incoming migration failed");
        PublishFailure();
    }

    private async Task HandshakeAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = new byte[FrameHeader.Size];
        var payload = new byte[ControlMessages.MaxPayloadBytes];
        var frame = await FrameStream.ReadControlFrameAsync(stream, header, payload, cancellationToken).ConfigureAwait(false);
        if (frame.Type != FrameType.Hello || frame.Sequence != 0)
            throw new MigrationFailedException(MigrationFailureKind.Protocol, $"Expected hello #0, got {frame.Type} #{frame.Sequence}.");
        var hello = ControlMessages.ReadHello(payload.AsSpan(0, frame.PayloadLength));
        string? refusal = null;
        if (hello.ProtocolVersion != HelloMessage.CurrentProtocolVersion)
            refusal = $"protocol version {hello.ProtocolVersion}, this host speaks {HelloMessage.CurrentProtocolVersion}";
        else if (hello.PageSize != PageBatchFormat.PageSize)
            refusal = $"page size {hello.PageSize}, expected {PageBatchFormat.PageSize}";
        else if (hello.PageCount != _target.Memory.PageCount)
            refusal = $"source has {hello.PageCount} pages, this VM {_target.Memory.PageCount}";
        else if (!string.Equals(hello.VmId, _target.VmId, StringComparison.Ordinal))
            refusal = $"stream is for VM '{hello.VmId}', this is '{_target.VmId}'";

        var length = ControlMessages.WriteHelloAck(payload, refusal is null, refusal ?? "accepted");
        await WriteControlAsync(FrameType.HelloAck, payload.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        if (refusal is not null)
            throw new MigrationFailedException(MigrationFailureKind.Rejected, $"Refused the stream: {refusal}.");
        Accept();
    }

    /// <summary>Reads frames until the end of stream, an abort, or cancellation; the apply worker does the rest.</summary>
    private async Task ReceiveLoopAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = new byte[FrameHeader.Size];
        try
        {
            while (true)
            {
                try
                {
                    await stream.ReadExactlyAsync(header, cancellationToken).ConfigureAwait(false);
                }
                catch (EndOfStreamException) when (Received.IsCompletedSuccessfully)
                {
                    return;
                }

                var frame = FrameDecoder.ReadHeader(header);
                var buffer = FrameBuffers.Rent(Math.Max(frame.PayloadLength, 1));
                try
                {
                    await stream.ReadExactlyAsync(buffer.AsMemory(0, frame.PayloadLength), cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    FrameBuffers.Return(buffer);
                    throw;
                }

                lock (Sync)
                {
                    _framesReceived++;
                    _bytesReceived += frame.FrameLength;
                }

                if (frame.Type == FrameType.Abort)
                {
                    var reason = ControlMessages.ReadText(FrameDecoder.DecodePayload(frame, buffer.AsSpan(0, frame.PayloadLength), []), out _);
                    FrameBuffers.Return(buffer);
                    throw new MigrationFailedException(MigrationFailureKind.SourceAborted, $"Source rolled back: {reason}");
                }

                if (Received.IsCompleted)
                {
                    FrameBuffers.Return(buffer);
                    throw new MigrationFailedException(MigrationFailureKind.Protocol, $"{frame.Type} frame after the end of the stream.");
                }

                await _frames.Writer.WriteAsync(new InboundFrame(frame, buffer), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (State is IncomingMigrationState.Resumed or IncomingMigrationState.Failed)
        {
            // Resumed (the stream was closed on purpose) or already failing.
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException && State is IncomingMigrationState.Resumed or IncomingMigrationState.Failed)
        {
            // The connection went away after the outcome was settled.
        }
        catch (Exception ex)
        {
            Fail(Classify(ex));
        }
        finally
        {
            _frames.Writer.TryComplete();
        }
    }

    private async Task WriteControlAsync(FrameType type, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var stream = _stream ?? throw new InvalidOperationException("No connection.");
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await FrameStream.WriteControlFrameAsync(stream, type, _returnSequence++, payload, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Tells the source why this side failed; returns true if the frame was written.</summary>
    private async Task<bool> TrySendErrorAsync()
    {
        if (_stream is null || Failure is not { } failure || failure.Kind is MigrationFailureKind.SourceAborted or MigrationFailureKind.Transport)
            return false;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1), _time);
        try
        {
            var payload = new byte[ControlMessages.MaxPayloadBytes];
            var length = ControlMessages.WriteError(payload, failure.Kind, failure.Message);
            await WriteControlAsync(FrameType.Error, payload.AsMemory(0, length), timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
            // Best effort: the source also fails on the closed connection.
            return false;
        }
    }

    /// <summary>
    /// After an error frame: close our sending side and discard what the source still sends until it hangs
    /// up (bounded), because closing a socket with unread data resets the connection, and a reset can
    /// discard the error frame before the source reads it.
    /// </summary>
    private async Task DrainBeforeCloseAsync()
    {
        Stream? stream;
        Socket? socket;
        lock (Sync)
        {
            stream = _stream;
            socket = _socket;
        }

        if (stream is null || socket is null)
            return;
        var sink = FrameBuffers.Rent(64 << 10);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(500), _time);
        try
        {
            socket.Shutdown(SocketShutdown.Send);
            while (await stream.ReadAsync(sink, timeout.Token).ConfigureAwait(false) > 0)
            {
                // Discard.
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Gone or slow: close anyway.
        }
        finally
        {
            FrameBuffers.Return(sink);
        }
    }

    private async Task CloseStreamAsync()
    {
        Stream? stream;
        lock (Sync)
        {
            stream = _stream;
            _stream = null;
        }

        if (stream is not null)
            await stream.DisposeAsync().ConfigureAwait(false);
        _listener.Dispose();
    }

    /// <summary>Records the first failure (ignored once resumed) and stops both loops.</summary>
    private void Fail(MigrationFailedException failure)
    {
        if (!TryFail(failure))
            return;

        _cts.Cancel();
        // A loop blocked on the listener or the socket wakes up on cancellation; closing the listener covers Accept.
        _listener.Dispose();
    }

    private MigrationFailedException Classify(Exception ex)
    {
        if (Failure is { } failure)
            return failure;
        return ex switch
        {
            MigrationFailedException failed => failed,
            FrameFormatException => new MigrationFailedException(MigrationFailureKind.Corruption, $"Corrupt frame from the source: {ex.Message}", ex),
            OperationCanceledException => new MigrationFailedException(MigrationFailureKind.Cancelled, "Incoming migration cancelled.", ex),
            EndOfStreamException => new MigrationFailedException(MigrationFailureKind.Transport, "The source closed the connection before the end of the stream.", ex),
            _ => new MigrationFailedException(MigrationFailureKind.Transport, $"Incoming stream failed: {ex.Message}", ex),
        };
    }
}
