using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace OrleansMigrate.Hypervisor.Linux.Guest;

/// <summary>How a <see cref="UdpEchoProbe"/> run sends.</summary>
public sealed record UdpEchoProbeOptions
{
    /// <summary>The network namespace the client socket lives in; null for this process's own.</summary>
    public string? Namespace { get; init; }

    /// <summary>The guest's echo endpoint (its IP and <c>omig.udp</c>).</summary>
    public required IPEndPoint Target { get; init; }

    /// <summary>Datagrams per second, 1..20000 (default 1000).</summary>
    public int RatePerSecond { get; init; } = 1000;

    /// <summary>Datagrams to send, 1..1,000,000.</summary>
    public int Count { get; init; } = 1000;

    /// <summary>Payload bytes per datagram (the first 8 carry the seq), 8..1024 (default 16).</summary>
    public int PayloadBytes { get; init; } = 16;

    /// <summary>How long replies are awaited after the last send, 0..60 s (default 1 s).</summary>
    public TimeSpan ReplyGrace { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad field.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Target, nameof(Target));
        if (Namespace is not null && !NetNamespace.IsValidName(Namespace))
            throw new ArgumentException($"Namespace '{Namespace}' is not a namespace name.", nameof(Namespace));
        if (RatePerSecond is < 1 or > 20_000)
            throw new ArgumentException($"RatePerSecond must be 1..20000, was {RatePerSecond}.", nameof(RatePerSecond));
        if (Count is < 1 or > 1_000_000)
            throw new ArgumentException($"Count must be 1..1000000, was {Count}.", nameof(Count));
        if (PayloadBytes is < 8 or > 1024)
            throw new ArgumentException($"PayloadBytes must be 8..1024, was {PayloadBytes}.", nameof(PayloadBytes));
        if (ReplyGrace < TimeSpan.Zero || ReplyGrace > TimeSpan.FromSeconds(60))
            throw new ArgumentException($"ReplyGrace must be 0..60 s, was {ReplyGrace}.", nameof(ReplyGrace));
    }
}

/// <summary>What a <see cref="UdpEchoProbe"/> run saw.</summary>
/// <param name="Sent">Datagrams sent.</param>
/// <param name="Received">Distinct seqs answered.</param>
/// <param name="LostCount">Seqs sent and never answered.</param>
/// <param name="Lost">The first 1,000 of them.</param>
/// <param name="Duplicates">Replies for a seq already answered.</param>
/// <param name="Malformed">Replies too short for a seq and a trailer, or with a seq never sent.</param>
/// <param name="LongestGap">The longest time between two consecutive replies, or from the last reply to the last echo sent
/// when that one went unanswered (the downtime as the client sees it); zero with no reply, or with a single reply to the
/// last echo sent.</param>
/// <param name="LongestGapAfterSeq">The seq whose reply opened the longest gap; null when <paramref name="LongestGap"/> is zero.</param>
/// <param name="RttMedian">Median round trip of the answered seqs; null when none.</param>
/// <param name="RttP99">99th percentile round trip; null when none.</param>
/// <param name="LastDurableSeq">The durable disk seq in the last reply that carried one; null when none did.</param>
/// <param name="BootIds">The guest agent boot ids seen, in order of first sight (more than one: the agent restarted).</param>
/// <param name="LastAnsweredSeq">The highest seq answered; null when none.</param>
/// <param name="Elapsed">From the first send to the end of the run.</param>
/// <param name="Cancelled">The run was cancelled before its end (the counts cover what happened until then).</param>
public sealed record UdpEchoReport(
    int Sent,
    int Received,
    int LostCount,
    IReadOnlyList<long> Lost,
    int Duplicates,
    int Malformed,
    TimeSpan LongestGap,
    long? LongestGapAfterSeq,
    TimeSpan? RttMedian,
    TimeSpan? RttP99,
    ulong? LastDurableSeq,
    IReadOnlyList<ulong> BootIds,
    long? LastAnsweredSeq,
    TimeSpan Elapsed,
    bool Cancelled)
{
    /// <summary>The findings in one line.</summary>
    public override string ToString() => System.FormattableString.Invariant(
        $"sent={Sent} received={Received} lost={LostCount} dup={Duplicates} malformed={Malformed} longest-gap={LongestGap.TotalMilliseconds:0.0}ms (after seq {LongestGapAfterSeq}) last-answered={LastAnsweredSeq} rtt-p50={RttMedian?.TotalMilliseconds:0.000}ms rtt-p99={RttP99?.TotalMilliseconds:0.000}ms durable={LastDurableSeq} boots={BootIds.Count} elapsed={Elapsed.TotalSeconds:0.00}s{(Cancelled ? " cancelled" : string.Empty)}");
}

/// <summary>
/// Sends sequence-numbered datagrams at a fixed rate to the lab guest's UDP echo (guest/linux/agent.c) from a socket
/// made inside a network namespace, and reports loss, duplicates, the longest silence between replies, round trips
/// and the guest trailer (durable disk seq, boot id). Bounded by <see cref="UdpEchoProbeOptions.Count"/> and cancellable.
/// </summary>
public static class UdpEchoProbe
{
    /// <summary>Runs one probe to its end (every datagram sent, then the reply grace) or to cancellation.</summary>
    public static async Task<UdpEchoReport> RunAsync(UdpEchoProbeOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        using var socket = NetNamespace.Run(options.Namespace, () => new Socket(options.Target.AddressFamily, SocketType.Dgram, ProtocolType.Udp));
        socket.ReceiveBufferSize = 1 << 20;
        socket.Connect(options.Target);

        // Never block a send: datagrams to a guest whose address does not resolve wait in the kernel's neighbour queue,
        // charged to this socket, until the resolution fails (3 s); a blocking send then waits for that memory, and a
        // dead guest stretched a 20 s run to minutes. A send that would block counts as sent and lost.
        socket.Blocking = false;

        var count = options.Count;
        var sentAt = new long[count];
        var receivedAt = new long[count];
        var state = new ReceiveState();
        var sendingDone = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var start = Stopwatch.GetTimestamp();
        var receiver = Task.Factory.StartNew(() => Receive(socket, options, sentAt, receivedAt, state, sendingDone.Task, cancellationToken),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var sent = 0;
        try
        {
            sent = await Task.Factory.StartNew(() => Send(socket, options, sentAt, start, cancellationToken),
                CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        }
        finally
        {
            sendingDone.TrySetResult(Stopwatch.GetTimestamp());
        }

        await receiver.ConfigureAwait(false);
        return Report(sent, sentAt, receivedAt, state, Stopwatch.GetElapsedTime(start), cancellationToken.IsCancellationRequested);
    }

    /// <summary>Sends one datagram every <paramref name="interval"/> until a reply comes (the guest is up), bounded by
    /// <paramref name="timeout"/>. Returns the time from the call to the first reply and its trailer; throws
    /// <see cref="TimeoutException"/> when none came.</summary>
    public static async Task<(TimeSpan Elapsed, GuestTrailer Trailer)> WaitForEchoAsync(string? netns, IPEndPoint target, TimeSpan timeout, TimeSpan interval, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (timeout <= TimeSpan.Zero || timeout > TimeSpan.FromMinutes(10))
            throw new ArgumentException($"timeout must be 0..10 min, was {timeout}.", nameof(timeout));
        if (interval < TimeSpan.FromMilliseconds(1) || interval > TimeSpan.FromSeconds(10))
            throw new ArgumentException($"interval must be 1 ms..10 s, was {interval}.", nameof(interval));
        using var socket = NetNamespace.Run(netns, () => new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp));
        socket.Connect(target);
        var start = Stopwatch.GetTimestamp();
        var buffer = new byte[2048];
        var payload = new byte[8];
        for (ulong i = 0; Stopwatch.GetElapsedTime(start) < timeout; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(payload, i);
            try
            {
                socket.Send(payload);
            }
            catch (SocketException)
            {
                // No route or unreachable yet (ICMP from the host side while the guest boots): retry.
            }

            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(interval);
            try
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, wait.Token).ConfigureAwait(false);
                if (n >= 8 + GuestTrailer.Size && GuestTrailer.TryRead(buffer.AsSpan(0, n), out var trailer))
                    return (Stopwatch.GetElapsedTime(start), trailer);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }
            catch (SocketException)
            {
                // ECONNREFUSED from an earlier ICMP port unreachable (the agent not listening yet).
                await Task.Delay(interval, cancellationToken).ConfigureAwait(false);
            }
        }

        throw new TimeoutException($"no UDP echo from {target} within {timeout.TotalSeconds:0.#} s");
    }

    private static int Send(Socket socket, UdpEchoProbeOptions options, long[] sentAt, long start, CancellationToken cancellationToken)
    {
        var payload = new byte[options.PayloadBytes];
        var ticksPerSend = (double)Stopwatch.Frequency / options.RatePerSecond;
        var sent = 0;
        for (var seq = 0; seq < options.Count && !cancellationToken.IsCancellationRequested; seq++)
        {
            var due = start + (long)(seq * ticksPerSend);
            // Sleep (never spin: the lab shares few cores with the guests) until due; a sleep's overshoot is made up
            // by sending the late datagrams back to back, so the rate holds on average.
            while (true)
            {
                var wait = due - Stopwatch.GetTimestamp();
                if (wait <= 0)
                    break;
                Thread.Sleep((int)Math.Clamp(wait * 1000 / Stopwatch.Frequency, 1, 100));
            }

            BinaryPrimitives.WriteUInt64BigEndian(payload, (ulong)seq);
            sentAt[seq] = Stopwatch.GetTimestamp();
            try
            {
                socket.Send(payload);
            }
            catch (SocketException)
            {
                // Unreachable for a moment (an ICMP error queued on the socket, a route being switched) or a send that
                // would block (the socket's memory held by datagrams waiting for the guest's address): the datagram
                // counts as sent and lost.
            }

            sent++;
        }

        return sent;
    }

    private sealed class ReceiveState
    {
        public int Duplicates;
        public int Malformed;
        public ulong? LastDurable;
        public readonly List<ulong> BootIds = [];
        public readonly List<(long At, long Seq)> Arrivals = [];
    }

    private static void Receive(Socket socket, UdpEchoProbeOptions options, long[] sentAt, long[] receivedAt, ReceiveState state, Task<long> sendingDone, CancellationToken cancellationToken)
    {
        var buffer = new byte[2048];
        var grace = (long)(options.ReplyGrace.TotalSeconds * Stopwatch.Frequency);
        while (!cancellationToken.IsCancellationRequested)
        {
            if (sendingDone.IsCompleted && Stopwatch.GetTimestamp() > sendingDone.Result + grace)
                break;
            int n;
            try
            {
                // The socket does not block (see RunAsync): wait up to 50 ms for a reply, then look at the clock again.
                if (!socket.Poll(50_000, SelectMode.SelectRead))
                    continue;
                n = socket.Receive(buffer);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock or SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.ConnectionReset)
            {
                continue;
            }

            var now = Stopwatch.GetTimestamp();
            if (n < 8 + GuestTrailer.Size || !GuestTrailer.TryRead(buffer.AsSpan(0, n), out var trailer))
            {
                state.Malformed++;
                continue;
            }

            var seq = BinaryPrimitives.ReadUInt64BigEndian(buffer);
            if (seq >= (ulong)sentAt.Length || sentAt[seq] == 0)
            {
                state.Malformed++;
                continue;
            }

            if (!state.BootIds.Contains(trailer.BootId))
                state.BootIds.Add(trailer.BootId);
            if (trailer.DurableSeq is { } durable)
                state.LastDurable = durable;
            if (receivedAt[seq] != 0)
            {
                state.Duplicates++;
                continue;
            }

            receivedAt[seq] = now;
            state.Arrivals.Add((now, (long)seq));
        }
    }

    private static UdpEchoReport Report(int sent, long[] sentAt, long[] receivedAt, ReceiveState state, TimeSpan elapsed, bool cancelled)
    {
        var lost = new List<long>();
        var lostCount = 0;
        var rtts = new List<long>(sent);
        long? lastAnswered = null;
        for (var seq = 0; seq < sent; seq++)
        {
            if (receivedAt[seq] == 0)
            {
                lostCount++;
                if (lost.Count < 1000)
                    lost.Add(seq);
            }
            else
            {
                lastAnswered = seq;
                rtts.Add(receivedAt[seq] - sentAt[seq]);
            }
        }

        long longest = 0;
        long? longestAfter = null;
        for (var i = 1; i < state.Arrivals.Count; i++)
        {
            var gap = state.Arrivals[i].At - state.Arrivals[i - 1].At;
            if (gap > longest)
            {
                longest = gap;
                longestAfter = state.Arrivals[i - 1].Seq;
            }
        }

        // A guest that fell silent for good: the silence from its last reply to the last echo sent is a gap too (the
        // longest of all, usually), or a guest that died at the end would report the short gaps before it.
        if (state.Arrivals.Count > 0 && sent > 0 && receivedAt[sent - 1] == 0)
        {
            var tail = sentAt[sent - 1] - state.Arrivals[^1].At;
            if (tail > longest)
            {
                longest = tail;
                longestAfter = state.Arrivals[^1].Seq;
            }
        }

        rtts.Sort();
        TimeSpan? Percentile(double p) => rtts.Count == 0 ? null : Stopwatch.GetElapsedTime(0, rtts[Math.Min(rtts.Count - 1, (int)(p * rtts.Count))]);
        return new UdpEchoReport(sent, rtts.Count, lostCount, lost, state.Duplicates, state.Malformed,
            Stopwatch.GetElapsedTime(0, longest), longestAfter, Percentile(0.5), Percentile(0.99), state.LastDurable,
            state.BootIds, lastAnswered, elapsed, cancelled);
    }
}
