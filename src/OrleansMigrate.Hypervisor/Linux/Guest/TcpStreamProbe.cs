using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace OrleansMigrate.Hypervisor.Linux.Guest;

/// <summary>How a <see cref="TcpStreamProbe"/> run holds its connections.</summary>
public sealed record TcpStreamProbeOptions
{
    /// <summary>The network namespace the client sockets live in; null for this process's own.</summary>
    public string? Namespace { get; init; }

    /// <summary>The guest's stream endpoint (its IP and <c>omig.tcp</c>).</summary>
    public required IPEndPoint Target { get; init; }

    /// <summary>Connections held at once, 1..64 (the agent serves 64).</summary>
    public int Connections { get; init; } = 8;

    /// <summary>How long the connections are held once all are open, 100 ms..1 h.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Time allowed for each connect, 100 ms..60 s (default 5 s).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A stream is still receiving at the end when a record came within this time before it, 50 ms..60 s (default 1 s).</summary>
    public TimeSpan AliveWindow { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad field.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Target, nameof(Target));
        if (Namespace is not null && !NetNamespace.IsValidName(Namespace))
            throw new ArgumentException($"Namespace '{Namespace}' is not a namespace name.", nameof(Namespace));
        if (Connections is < 1 or > 64)
            throw new ArgumentException($"Connections must be 1..64, was {Connections}.", nameof(Connections));
        if (Duration < TimeSpan.FromMilliseconds(100) || Duration > TimeSpan.FromHours(1))
            throw new ArgumentException($"Duration must be 100 ms..1 h, was {Duration}.", nameof(Duration));
        if (ConnectTimeout < TimeSpan.FromMilliseconds(100) || ConnectTimeout > TimeSpan.FromSeconds(60))
            throw new ArgumentException($"ConnectTimeout must be 100 ms..60 s, was {ConnectTimeout}.", nameof(ConnectTimeout));
        if (AliveWindow < TimeSpan.FromMilliseconds(50) || AliveWindow > TimeSpan.FromSeconds(60))
            throw new ArgumentException($"AliveWindow must be 50 ms..60 s, was {AliveWindow}.", nameof(AliveWindow));
    }
}

/// <summary>What one stream of a <see cref="TcpStreamProbe"/> run saw.</summary>
/// <param name="Index">Which connection (0-based).</param>
/// <param name="Connected">The connect succeeded.</param>
/// <param name="Records">Records received.</param>
/// <param name="LastSeq">The last record's seq; null when none came.</param>
/// <param name="SeqGap">The first break in the seqs as (expected, received); null when none.</param>
/// <param name="Error">How the stream ended early (reset, closed by the guest, connect failure); null when it did not.</param>
/// <param name="LongestStall">The longest time between two records (or from the connect to the first).</param>
/// <param name="ReceivingAtEnd">A record came within <see cref="TcpStreamProbeOptions.AliveWindow"/> before the end.</param>
public sealed record TcpStreamResult(int Index, bool Connected, long Records, ulong? LastSeq, (ulong Expected, ulong Received)? SeqGap, string? Error, TimeSpan LongestStall, bool ReceivingAtEnd)
{
    /// <summary>Connected, no reset, no gap in the seqs, and still receiving at the end.</summary>
    public bool Survived => Connected && Error is null && SeqGap is null && ReceivingAtEnd;
}

/// <summary>What a <see cref="TcpStreamProbe"/> run saw, per stream.</summary>
/// <param name="Streams">One result per connection.</param>
/// <param name="Cancelled">The run was cancelled before its end.</param>
public sealed record TcpStreamReport(IReadOnlyList<TcpStreamResult> Streams, bool Cancelled)
{
    /// <summary>How many streams survived.</summary>
    public int SurvivedCount => Streams.Count(s => s.Survived);

    /// <summary>The longest stall of any stream.</summary>
    public TimeSpan LongestStall => Streams.Count == 0 ? TimeSpan.Zero : Streams.Max(s => s.LongestStall);

    /// <summary>The findings in one line.</summary>
    public override string ToString() => System.FormattableString.Invariant(
        $"streams={Streams.Count} survived={SurvivedCount} longest-stall={LongestStall.TotalMilliseconds:0.0}ms records={Streams.Sum(s => s.Records)}{(Cancelled ? " cancelled" : string.Empty)}")
        + string.Concat(Streams.Where(s => !s.Survived).Select(s => $" [#{s.Index}: {s.Error ?? (s.SeqGap is { } g ? $"gap {g.Expected}->{g.Received}" : "not receiving at the end")}]"));
}

/// <summary>
/// Holds long-lived TCP connections to the lab guest's stream server (guest/linux/agent.c: a 16-byte record, u64 BE
/// seq and u64 BE guest ns, every 10 ms per connection) from a network namespace, and reports per stream whether it
/// survived (no reset, no seq gap, still receiving at the end) and its longest stall. Bounded by the duration; cancellable.
/// </summary>
public static class TcpStreamProbe
{
    /// <summary>Bytes per record.</summary>
    public const int RecordSize = 16;

    /// <summary>Opens the connections, holds them for the duration (or until <paramref name="cancellationToken"/>), closes them and reports.</summary>
    public static async Task<TcpStreamReport> RunAsync(TcpStreamProbeOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var sockets = new List<Socket>();
        try
        {
            var streams = new Stream[options.Connections];
            var results = new TcpStreamResult?[options.Connections];
            var connectedAt = new long[options.Connections];
            for (var i = 0; i < options.Connections; i++)
            {
                var socket = NetNamespace.Run(options.Namespace, () => new Socket(options.Target.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
                sockets.Add(socket);
                socket.NoDelay = true;
                using var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                connect.CancelAfter(options.ConnectTimeout);
                try
                {
                    await socket.ConnectAsync(options.Target, connect.Token).ConfigureAwait(false);
                    connectedAt[i] = Stopwatch.GetTimestamp();
                }
                catch (Exception ex) when (ex is SocketException or OperationCanceledException)
                {
                    results[i] = new TcpStreamResult(i, false, 0, null, null, ex is OperationCanceledException ? $"connect timed out after {options.ConnectTimeout.TotalSeconds:0.#} s" : $"connect failed: {ex.Message}", TimeSpan.Zero, false);
                }
            }

            using var end = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            end.CancelAfter(options.Duration);
            var readers = new Task<TcpStreamResult>[options.Connections];
            for (var i = 0; i < options.Connections; i++)
            {
                readers[i] = results[i] is { } failed
                    ? Task.FromResult(failed)
                    : ReadAsync(i, sockets[i], connectedAt[i], options, end.Token);
            }

            var all = await Task.WhenAll(readers).ConfigureAwait(false);
            return new TcpStreamReport(all, cancellationToken.IsCancellationRequested);
        }
        finally
        {
            foreach (var socket in sockets)
                socket.Dispose();
        }
    }

    private static async Task<TcpStreamResult> ReadAsync(int index, Socket socket, long connectedAt, TcpStreamProbeOptions options, CancellationToken end)
    {
        var buffer = new byte[4096];
        var record = new byte[RecordSize];
        var filled = 0;
        long records = 0;
        ulong expected = 0;
        ulong? last = null;
        (ulong, ulong)? gap = null;
        string? error = null;
        var lastAt = connectedAt;
        long longest = 0;
        try
        {
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, end).ConfigureAwait(false);
                if (n == 0)
                {
                    error = "closed by the guest";
                    break;
                }

                var now = Stopwatch.GetTimestamp();
                for (var offset = 0; offset < n;)
                {
                    var take = Math.Min(RecordSize - filled, n - offset);
                    buffer.AsSpan(offset, take).CopyTo(record.AsSpan(filled));
                    filled += take;
                    offset += take;
                    if (filled < RecordSize)
                        continue;
                    filled = 0;
                    var seq = BinaryPrimitives.ReadUInt64BigEndian(record);
                    if (seq != expected && gap is null)
                        gap = (expected, seq);
                    expected = seq + 1;
                    last = seq;
                    records++;
                    longest = Math.Max(longest, now - lastAt);
                    lastAt = now;
                }
            }
        }
        catch (OperationCanceledException) when (end.IsCancellationRequested)
        {
        }
        catch (SocketException ex)
        {
            error = $"{ex.SocketErrorCode}: {ex.Message}";
        }

        var finished = Stopwatch.GetTimestamp();
        longest = Math.Max(longest, error is null ? finished - lastAt : 0);
        var alive = records > 0 && Stopwatch.GetElapsedTime(lastAt, finished) <= options.AliveWindow;
        return new TcpStreamResult(index, true, records, last, gap, error, Stopwatch.GetElapsedTime(0, longest), alive);
    }
}
