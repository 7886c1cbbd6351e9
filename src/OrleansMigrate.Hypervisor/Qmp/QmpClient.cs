using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>
/// A QMP connection over one stream: one read loop, a write lock, pending commands by id, events on a channel.
/// </summary>
/// <remarks>
/// Commands may be issued concurrently; replies are matched by the <c>id</c> each command carries, so they
/// may arrive in any order. When the read loop ends for any reason — the peer closes, sends non-QMP bytes,
/// a read fails — every pending command fails at once with a <see cref="QmpConnectionException"/>, the event
/// channel completes (with that exception, unless the client was disposed) and the stream is disposed.
/// Later commands fail the same way; create a new client to reconnect.
/// </remarks>
public sealed class QmpClient : IAsyncDisposable
{
    private const string GreetingCommand = "(greeting)";
    private const string CapabilitiesCommand = "qmp_capabilities";

    /// <summary>Disposal waits this long for the read loop, which a disposed stream normally ends at once.</summary>
    private static readonly TimeSpan ReadLoopDrainTimeout = TimeSpan.FromSeconds(5);

    private readonly Stream _stream;
    private readonly QmpClientOptions _options;
    private readonly QmpFramer _framer;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<QmpFrame>> _pending = new(StringComparer.Ordinal);
    private readonly Channel<QmpEvent> _events;
    private readonly CancellationTokenSource _shutdown = new();
    private QmpConnectionException? _closeReason;
    private Task _readLoop = Task.CompletedTask;
    private long _nextId;

    private QmpClient(Stream stream, QmpClientOptions options)
    {
        _stream = stream;
        _options = options;
        _framer = new QmpFramer(options.MaxFrameBytes);
        _events = Channel.CreateBounded<QmpEvent>(new BoundedChannelOptions(options.EventCapacity)
        {
            FullMode = options.EventFullMode,
            SingleWriter = true,
            AllowSynchronousContinuations = options.InlineEventDelivery,
        });
    }

    /// <summary>The server's greeting, read during the handshake.</summary>
    public QmpGreeting Greeting { get; private set; } = new(null, []);

    /// <summary>Asynchronous events in arrival order. Overflow follows <see cref="QmpClientOptions.EventFullMode"/>
    /// (default: the oldest event is dropped). Completes when the connection ends.</summary>
    public ChannelReader<QmpEvent> Events => _events.Reader;

    public bool IsConnected => Volatile.Read(ref _closeReason) is null;

    /// <summary>Why the connection ended; null while connected.</summary>
    public QmpConnectionException? CloseReason => Volatile.Read(ref _closeReason);

    /// <summary>Connects to a QEMU monitor socket (<c>-qmp unix:PATH,server</c>), reads the greeting and negotiates capabilities.</summary>
    /// <exception cref="QmpConnectionException">Connect failed, or the peer closed or broke protocol during the handshake.</exception>
    /// <exception cref="QmpTimeoutException">The greeting or the <c>qmp_capabilities</c> reply took longer than <see cref="QmpClientOptions.ConnectTimeout"/>.</exception>
    /// <exception cref="QmpCommandException">The server rejected <c>qmp_capabilities</c> (e.g. an unknown capability).</exception>
    public static async Task<QmpClient> ConnectUnixAsync(string path, QmpClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new QmpClientOptions();
        options.Validate();

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = CreateTimeout(options.ConnectTimeout, options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout?.Token ?? CancellationToken.None);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), linked.Token).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new QmpConnectionException(QmpConnectionFailure.ConnectFailed, QmpMessages.ConnectFailed(path, ex.Message), ex);
        }
        catch (OperationCanceledException ex) when (timeout?.IsCancellationRequested == true && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            var why = new QmpTimeoutException("connect", options.ConnectTimeout);
            throw new QmpConnectionException(QmpConnectionFailure.ConnectFailed, QmpMessages.ConnectFailed(path, why.Message), ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return await ConnectAsync(new NetworkStream(socket, ownsSocket: true), options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs the handshake over an already-open stream and takes ownership of it (disposed with the client, or on failure).</summary>
    /// <exception cref="QmpConnectionException">The peer closed or broke protocol during the handshake.</exception>
    /// <exception cref="QmpTimeoutException">A handshake step took longer than <see cref="QmpClientOptions.ConnectTimeout"/>.</exception>
    /// <exception cref="QmpCommandException">The server rejected <c>qmp_capabilities</c>.</exception>
    public static async Task<QmpClient> ConnectAsync(Stream stream, QmpClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        options ??= new QmpClientOptions();
        options.Validate();

        var client = new QmpClient(stream, options);
        try
        {
            await client.HandshakeAsync(cancellationToken).ConfigureAwait(false);
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sends <paramref name="command"/> and returns its <c>return</c> value (QEMU sends <c>{}</c> for commands without one).</summary>
    /// <param name="timeout">Reply timeout, including the wait for the write lock; positive or infinite; null for <see cref="QmpClientOptions.CommandTimeout"/>.</param>
    /// <exception cref="QmpCommandException">The server answered with an error.</exception>
    /// <exception cref="QmpTimeoutException">No reply within the timeout.</exception>
    /// <exception cref="QmpConnectionException">The connection is gone, or ended while the command was pending.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        var effectiveTimeout = timeout ?? _options.CommandTimeout;
        QmpClientOptions.ValidateTimeout(effectiveTimeout, nameof(timeout));
        cancellationToken.ThrowIfCancellationRequested();

        var id = "om-" + Interlocked.Increment(ref _nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var bytes = QmpFramer.EncodeCommand(command, arguments, id);
        var reply = new TaskCompletionSource<QmpFrame>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;

        using var timeoutSource = CreateTimeout(effectiveTimeout, _options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutSource?.Token ?? CancellationToken.None);
        try
        {
            // Checked after registering: either this sees the close reason or the shutdown sweep sees this entry.
            if (Volatile.Read(ref _closeReason) is { } closed)
                throw closed;

            await SendAsync(bytes, command, linked.Token).ConfigureAwait(false);
            var frame = await reply.Task.WaitAsync(linked.Token).ConfigureAwait(false);
            if (frame.Kind == QmpFrameKind.Error)
                throw new QmpCommandException(command, arguments?.ToJsonString(), frame.ErrorClass!, frame.ErrorDescription!);
            return frame.Return;
        }
        catch (OperationCanceledException) when (timeoutSource?.IsCancellationRequested == true && !cancellationToken.IsCancellationRequested)
        {
            throw new QmpTimeoutException(command, effectiveTimeout);
        }
        catch (QmpConnectionException cause) when (cause.Command is null)
        {
            throw new QmpConnectionException(cause.Failure, QmpMessages.ForCommand(command, cause), cause, command);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Fails pending commands with <see cref="QmpConnectionFailure.Disposed"/>, completes <see cref="Events"/> and closes the stream.</summary>
    public async ValueTask DisposeAsync()
    {
        Shutdown(new QmpConnectionException(QmpConnectionFailure.Disposed, QmpMessages.Disposed()));
        await _readLoop.WaitAsync(ReadLoopDrainTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private static CancellationTokenSource? CreateTimeout(TimeSpan timeout, TimeProvider timeProvider) =>
        timeout == Timeout.InfiniteTimeSpan ? null : new CancellationTokenSource(timeout, timeProvider);

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        QmpFrame greeting;
        using (var timeout = CreateTimeout(_options.ConnectTimeout, _options.TimeProvider))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout?.Token ?? CancellationToken.None))
        {
            try
            {
                greeting = await ReadGreetingAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout?.IsCancellationRequested == true && !cancellationToken.IsCancellationRequested)
            {
                throw new QmpTimeoutException(GreetingCommand, _options.ConnectTimeout);
            }
        }

        Greeting = QmpGreeting.FromFrame(greeting);
        _readLoop = ReadLoopAsync();

        JsonObject? arguments = null;
        if (_options.Capabilities.Count > 0)
            arguments = new JsonObject { ["enable"] = new JsonArray([.. _options.Capabilities.Select(c => (JsonNode?)JsonValue.Create(c))]) };
        await ExecuteAsync(CapabilitiesCommand, arguments, _options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
    }

    private async Task<QmpFrame> ReadGreetingAsync(CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(_options.ReadBufferBytes);
        try
        {
            while (true)
            {
                if (_framer.TryReadFrame(out var frame))
                {
                    return frame.Kind == QmpFrameKind.Greeting
                        ? frame
                        : throw new QmpConnectionException(QmpConnectionFailure.ProtocolViolation, QmpMessages.ExpectedGreeting(frame.Kind));
                }

                var read = await _stream.ReadAsync(buffer.AsMemory(0, _options.ReadBufferBytes), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                    throw new QmpConnectionException(QmpConnectionFailure.Closed, QmpMessages.ClosedBeforeGreeting());
                _framer.Append(buffer.AsSpan(0, read));
            }
        }
        catch (QmpFramingException ex)
        {
            throw new QmpConnectionException(QmpConnectionFailure.ProtocolViolation, QmpMessages.BadFrame(ex.Message), ex);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            throw new QmpConnectionException(QmpConnectionFailure.Closed, QmpMessages.ReadFailed(ex.Message), ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task ReadLoopAsync()
    {
        // Yield so the handshake continues while the loop runs on the pool.
        await Task.Yield();
        var buffer = ArrayPool<byte>.Shared.Rent(_options.ReadBufferBytes);
        QmpConnectionException reason;
        try
        {
            while (true)
            {
                // Frames may already be buffered behind the greeting.
                while (_framer.TryReadFrame(out var frame))
                    await DispatchAsync(frame).ConfigureAwait(false);

                var read = await _stream.ReadAsync(buffer.AsMemory(0, _options.ReadBufferBytes), _shutdown.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    reason = new QmpConnectionException(QmpConnectionFailure.Closed, QmpMessages.EndOfStream());
                    break;
                }

                _framer.Append(buffer.AsSpan(0, read));
            }
        }
        catch (QmpFramingException ex)
        {
            reason = new QmpConnectionException(QmpConnectionFailure.ProtocolViolation, QmpMessages.BadFrame(ex.Message), ex);
        }
        catch (QmpConnectionException ex)
        {
            reason = ex;
        }
        catch (Exception ex)
        {
            // Any other failure — I/O, a disposed stream, a cancelled read at shutdown — ends the connection;
            // the loop must never die silently and leave callers waiting.
            reason = new QmpConnectionException(QmpConnectionFailure.Closed, QmpMessages.ReadFailed(ex.Message), ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        Shutdown(reason);
    }

    private async ValueTask DispatchAsync(QmpFrame frame)
    {
        switch (frame.Kind)
        {
            case QmpFrameKind.Return or QmpFrameKind.Error:
                // Unknown ids are late replies to commands that timed out or were cancelled.
                if (frame.Id is not null && _pending.TryRemove(frame.Id, out var reply))
                    reply.TrySetResult(frame);
                break;
            case QmpFrameKind.Event:
                var item = new QmpEvent(frame.EventName!, frame.EventData, frame.EventTimestamp);
                if (!_events.Writer.TryWrite(item))
                {
                    try
                    {
                        // Only in Wait mode: back-pressure from a slow reader, by choice (see QmpClientOptions.EventFullMode).
                        await _events.Writer.WriteAsync(item, _shutdown.Token).ConfigureAwait(false);
                    }
                    catch (ChannelClosedException ex)
                    {
                        throw new QmpConnectionException(QmpConnectionFailure.Closed, QmpMessages.EventSinkFailed(ex.Message), ex);
                    }
                }

                break;
            default:
                throw new QmpConnectionException(QmpConnectionFailure.ProtocolViolation, QmpMessages.UnexpectedGreeting());
        }
    }

    private async Task SendAsync(byte[] bytes, string command, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        var writeStarted = false;
        try
        {
            if (Volatile.Read(ref _closeReason) is { } closed)
                throw closed;
            cancellationToken.ThrowIfCancellationRequested();
            writeStarted = true;
            await _stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!writeStarted && Volatile.Read(ref _closeReason) is null)
        {
            throw;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && Volatile.Read(ref _closeReason) is null)
        {
            // Part of the frame may be on the wire; nothing after it could be parsed by the server.
            Shutdown(new QmpConnectionException(QmpConnectionFailure.Closed, QmpMessages.WriteCancelled(command)));
            throw;
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            var reason = new QmpConnectionException(QmpConnectionFailure.Closed, QmpMessages.WriteFailed(command, ex.Message), ex);
            Shutdown(reason);
            throw Volatile.Read(ref _closeReason) ?? reason;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Runs once: records the reason, fails every pending command, completes events, closes the stream.</summary>
    private void Shutdown(QmpConnectionException reason)
    {
        if (Interlocked.CompareExchange(ref _closeReason, reason, null) is not null)
            return;

        foreach (var pending in _pending)
            pending.Value.TrySetException(reason);
        _events.Writer.TryComplete(reason.Failure == QmpConnectionFailure.Disposed ? null : reason);

        _shutdown.Cancel();
        try
        {
            _stream.Dispose();
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            // The stream is already broken; closing it is best effort.
        }
    }
}
