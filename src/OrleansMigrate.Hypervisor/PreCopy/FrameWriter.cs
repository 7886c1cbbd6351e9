using System.Threading.Channels;
using OrleansMigrate.Hypervisor.Framing;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>
/// The one writer of a migration stream: a dedicated thread that takes sealed frames from a small bounded
/// channel, paces them through the <see cref="TokenBucket"/> and writes them synchronously, so the engine
/// builds (and compresses) the next frames while earlier ones are on the wire. On a write fault the channel
/// is completed with the fault and every queued frame's <see cref="OutboundFrame.Written"/> fails, so no
/// caller hangs. A write blocked on a full socket ends when the stream is disposed.
/// </summary>
internal sealed class FrameWriter
{
    private readonly Stream _stream;
    private readonly TokenBucket? _bucket;
    private readonly TimeProvider _time;
    private readonly Channel<OutboundFrame> _queue;
    private readonly SemaphoreSlim _available = new(0);
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long[] _lastWritten = new long[256];
    private readonly string _name;
    private long _bytesWritten;
    private long _framesWritten;

    public FrameWriter(Stream stream, TokenBucket? bucket, TimeProvider time, int capacity, string name)
    {
        _stream = stream;
        _bucket = bucket;
        _time = time;
        _name = name;
        _queue = Channel.CreateBounded<OutboundFrame>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    public long FramesWritten => Interlocked.Read(ref _framesWritten);

    /// <summary>Completes when the writer thread has ended (faulted if a write failed).</summary>
    public Task Completion => _completion.Task;

    /// <summary>When the last frame of <paramref name="type"/> was handed to the socket (0 if none yet).</summary>
    public long LastWritten(FrameType type) => Volatile.Read(ref _lastWritten[(int)type]);

    public void Start(CancellationToken cancellationToken)
    {
        var thread = new Thread(() => Run(cancellationToken)) { IsBackground = true, Name = _name };
        thread.Start();
    }

    public ValueTask EnqueueAsync(OutboundFrame frame, CancellationToken cancellationToken)
    {
        if (!_queue.Writer.TryWrite(frame))
            return EnqueueWhenRoomAsync(frame, cancellationToken);
        _available.Release();
        return ValueTask.CompletedTask;
    }

    /// <summary>No more frames: the thread ends after writing what is queued.</summary>
    public void Complete()
    {
        if (_queue.Writer.TryComplete())
            _available.Release();
    }

    private async ValueTask EnqueueWhenRoomAsync(OutboundFrame frame, CancellationToken cancellationToken)
    {
        await _queue.Writer.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        _available.Release();
    }

    private void Run(CancellationToken cancellationToken)
    {
        OutboundFrame current = default;
        try
        {
            var reader = _queue.Reader;
            while (true)
            {
                // One release per queued frame plus one for completion; a semaphore wakes this thread
                // directly, where an awaited channel read would go through the thread pool.
                _available.Wait(cancellationToken);
                if (!reader.TryRead(out current))
                {
                    if (reader.Completion.IsCompleted)
                        break;
                    continue;
                }

                _bucket?.Wait(current.Length, current.ExactPacing, cancellationToken);
                cancellationToken.ThrowIfCancellationRequested();
                // Stamp when the frame is handed to the socket: the emulated link already carried it.
                var now = _time.GetTimestamp();
                _stream.Write(current.Buffer, 0, current.Length);
                Interlocked.Add(ref _bytesWritten, current.Length);
                Interlocked.Increment(ref _framesWritten);
                Volatile.Write(ref _lastWritten[(int)current.Type], now);
                FrameBuffers.Return(current.Buffer);
                current.Written?.TrySetResult(now);
                current = default;
            }

            _completion.TrySetResult();
        }
        catch (Exception ex)
        {
            if (current.Buffer is not null)
            {
                FrameBuffers.Return(current.Buffer);
                current.Written?.TrySetException(ex);
            }

            _queue.Writer.TryComplete(ex);
            while (_queue.Reader.TryRead(out var pending))
            {
                FrameBuffers.Return(pending.Buffer);
                pending.Written?.TrySetException(ex);
            }

            _completion.TrySetException(ex);
        }
    }
}
