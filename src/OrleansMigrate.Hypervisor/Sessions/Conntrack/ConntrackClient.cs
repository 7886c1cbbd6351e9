using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace OrleansMigrate.Hypervisor.Sessions.Conntrack;

/// <summary>
/// A ctnetlink client over a raw <c>NETLINK_NETFILTER</c> socket in one network namespace: dumps the IPv4 table,
/// reads, creates or updates (<c>IPCTNL_MSG_CT_NEW</c> with <c>NLM_F_CREATE</c>) and deletes entries in batches — many
/// messages per <c>sendmsg</c>, every message acknowledged and each failure reported with its entry. Needs
/// CAP_NET_ADMIN in the namespace. Not thread-safe: one operation at a time.
/// </summary>
public sealed class ConntrackClient : IDisposable
{
    /// <summary>Messages per <c>sendmsg</c>: their acks must fit the receive buffer.</summary>
    public const int DefaultBatchSize = 256;

    private const int ReceiveBufferBytes = 4 * 1024 * 1024;
    private const int SendBufferBytes = 1024 * 1024;
    private const int MaxDumpMessages = 50_000_000;

    private readonly NetlinkSocket _socket;
    private readonly NetlinkMessageBuilder _builder = new(64 * 1024);
    private readonly byte[] _receive = new byte[256 * 1024];
    private uint _sequence = (uint)Environment.TickCount;

    private ConntrackClient(NetlinkSocket socket, TimeSpan timeout)
    {
        _socket = socket;
        Timeout = timeout;
    }

    /// <summary>The namespace the client works in (null: the process's own).</summary>
    public string? Namespace => _socket.Namespace;

    /// <summary>How long one batch or one dump may wait for the kernel.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Opens a client in network namespace <paramref name="ns"/> (null: the process's own, as the host agent
    /// running inside its host's namespace). Throws <see cref="ConntrackException"/> saying why ctnetlink cannot be
    /// used (not root, no such namespace, no ctnetlink).</summary>
    public static ConntrackClient Open(string? ns = null, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        if (limit <= TimeSpan.Zero || limit > TimeSpan.FromMinutes(10))
            throw new ArgumentOutOfRangeException(nameof(timeout), limit, "timeout must be in (0, 10 min]");
        return new ConntrackClient(OpenSocket(ns, [], ReceiveBufferBytes, SendBufferBytes), limit);
    }

    internal static NetlinkSocket OpenSocket(string? ns, IReadOnlyList<int> groups, int receive, int send)
    {
        try
        {
            var socket = NetlinkSocket.Open(ns, groups, receive, send);
            return socket;
        }
        catch (InvalidOperationException ex)
        {
            throw new ConntrackException($"ctnetlink cannot be opened: {ex.Message}", 0, ex);
        }
    }

    /// <summary>Every IPv4 entry of the table (or those <paramref name="filter"/> keeps), read with one dump.</summary>
    public List<ConntrackEntry> Dump(Func<ConntrackEntry, bool>? filter = null)
    {
        var output = new List<ConntrackEntry>();
        Dump(entry =>
        {
            if (filter is null || filter(entry))
                output.Add(entry);
        });
        return output;
    }

    /// <summary>The IPv4 entries whose original or reply tuple has <paramref name="address"/> as source or destination.</summary>
    public List<ConntrackEntry> DumpInvolving(uint address) => Dump(e => e.Involves(address));

    /// <summary>Dumps the IPv4 table, handing every entry to <paramref name="visit"/>; returns the number seen.</summary>
    public int Dump(Action<ConntrackEntry> visit)
    {
        ArgumentNullException.ThrowIfNull(visit);
        var sequence = NextSequence();
        _builder.Clear();
        ConntrackMessages.AppendDump(_builder, sequence);
        _socket.Send(_builder.Written);
        var deadline = Environment.TickCount64 + (long)Timeout.TotalMilliseconds;
        var seen = 0;
        for (var messages = 0; messages < MaxDumpMessages;)
        {
            var n = ReceiveOrThrow(deadline, "dump");
            var reader = new NetlinkMessageReader(_receive.AsSpan(0, n));
            while (reader.TryRead(out var message))
            {
                messages++;
                if (message.Sequence != sequence || message.PortId != _socket.PortId)
                    continue;
                switch (message.Type)
                {
                    case Netlink.MessageDone:
                        return seen;
                    case Netlink.MessageError:
                        var errno = ErrorOf(message.Payload);
                        if (errno == 0)
                            continue;
                        throw new ConntrackException($"conntrack dump failed: errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)})", errno);
                    case Netlink.MessageOverrun:
                        throw new ConntrackException("conntrack dump: the kernel reported a netlink overrun", NetlinkSocket.Enobufs);
                    case ConntrackMessages.TypeNew:
                        if (ConntrackMessages.ParseEntry(message.Payload) is { } entry)
                        {
                            seen++;
                            visit(entry);
                        }

                        break;
                }
            }
        }

        throw new ConntrackException($"conntrack dump did not end within {MaxDumpMessages} messages", 0);
    }

    /// <summary>
    /// Creates the entries, or updates those already there when <paramref name="exclusive"/> is false (then an entry
    /// that exists gets the new timeout, status bits, mark and TCP state). Sent <see cref="DefaultBatchSize"/> messages
    /// per <c>sendmsg</c>; every message's ack is read, and each refusal is returned with its entry and errno.
    /// </summary>
    public ConntrackBatchResult Write(IReadOnlyList<ConntrackEntry> entries, bool exclusive = false, int batchSize = DefaultBatchSize)
    {
        ArgumentNullException.ThrowIfNull(entries);
        return RunBatches(entries.Count, batchSize, "write", (i, seq) => ConntrackMessages.AppendCreate(_builder, entries[i], seq, exclusive), i => entries[i].Original);
    }

    /// <summary>Deletes the entries named by their original tuples (and zones); a missing one fails with ENOENT.</summary>
    public ConntrackBatchResult Delete(IReadOnlyList<ConntrackTuple> originals, IReadOnlyList<ushort>? zones = null, int batchSize = DefaultBatchSize)
    {
        ArgumentNullException.ThrowIfNull(originals);
        if (zones is not null && zones.Count != originals.Count)
            throw new ArgumentException($"zones has {zones.Count} items, originals {originals.Count}.", nameof(zones));
        return RunBatches(originals.Count, batchSize, "delete",
            (i, seq) => ConntrackMessages.AppendByTuple(_builder, ConntrackMessages.TypeDelete, originals[i], zones?[i] ?? 0, seq), i => originals[i]);
    }

    /// <summary>Reads the current state of each named entry (batched GETs): the entry, or null where it does not exist.</summary>
    public ConntrackEntry?[] Get(IReadOnlyList<ConntrackTuple> originals, IReadOnlyList<ushort>? zones = null, int batchSize = DefaultBatchSize)
    {
        ArgumentNullException.ThrowIfNull(originals);
        if (zones is not null && zones.Count != originals.Count)
            throw new ArgumentException($"zones has {zones.Count} items, originals {originals.Count}.", nameof(zones));
        var found = new ConntrackEntry?[originals.Count];
        var result = RunBatches(originals.Count, batchSize, "get",
            (i, seq) => ConntrackMessages.AppendByTuple(_builder, ConntrackMessages.TypeGet, originals[i], zones?[i] ?? 0, seq), i => originals[i],
            (i, entry) => found[i] = entry);
        var real = result.Failures.Where(f => f.Errno != ConntrackEntryFailure.NotFound).ToList();
        if (real.Count > 0)
            new ConntrackBatchResult(originals.Count, originals.Count - real.Count, real).ThrowIfFailed("conntrack get");
        return found;
    }

    public void Dispose() => _socket.Dispose();

    private ConntrackBatchResult RunBatches(int count, int batchSize, string what, Action<int, uint> append, Func<int, ConntrackTuple> nameOf,
        Action<int, ConntrackEntry>? onEntry = null)
    {
        if (batchSize is < 1 or > 4096)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be 1..4096");
        var failures = new List<ConntrackEntryFailure>();
        var succeeded = 0;
        var pending = new Dictionary<uint, int>(batchSize);
        for (var first = 0; first < count; first += batchSize)
        {
            var last = Math.Min(count, first + batchSize);
            _builder.Clear();
            pending.Clear();
            for (var i = first; i < last; i++)
            {
                var seq = NextSequence();
                pending[seq] = i;
                append(i, seq);
            }

            _socket.Send(_builder.Written);
            var deadline = Environment.TickCount64 + (long)Timeout.TotalMilliseconds;
            while (pending.Count > 0)
            {
                var n = ReceiveOrThrow(deadline, what, pending.Count);
                var reader = new NetlinkMessageReader(_receive.AsSpan(0, n));
                while (reader.TryRead(out var message))
                {
                    if (message.PortId != _socket.PortId || !pending.TryGetValue(message.Sequence, out var index))
                        continue;
                    if (message.Type == Netlink.MessageError)
                    {
                        pending.Remove(message.Sequence);
                        var errno = ErrorOf(message.Payload);
                        if (errno == 0)
                            succeeded++;
                        else
                            failures.Add(new ConntrackEntryFailure(index, nameOf(index), errno, Marshal.GetPInvokeErrorMessage(errno)));
                    }
                    else if (message.Type == ConntrackMessages.TypeNew && onEntry is not null)
                    {
                        pending.Remove(message.Sequence);
                        succeeded++;
                        if (ConntrackMessages.ParseEntry(message.Payload) is { } entry)
                            onEntry(index, entry);
                    }
                }
            }
        }

        return new ConntrackBatchResult(count, succeeded, failures);
    }

    private int ReceiveOrThrow(long deadline, string what, int outstanding = 0)
    {
        var wait = TimeSpan.FromMilliseconds(Math.Max(0, deadline - Environment.TickCount64));
        var n = _socket.Receive(_receive, wait);
        if (n == -NetlinkSocket.Enobufs)
            throw new ConntrackException($"conntrack {what}: the socket's receive buffer overflowed (ENOBUFS); replies were lost", NetlinkSocket.Enobufs);
        if (n == 0)
            throw new ConntrackException($"conntrack {what}: no answer from the kernel within {Timeout.TotalSeconds:0.#} s{(outstanding > 0 ? $" ({outstanding} replies outstanding)" : "")}", 0);
        return n;
    }

    /// <summary>The positive errno of an <c>NLMSG_ERROR</c> payload (0 is an ack).</summary>
    internal static int ErrorOf(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 4)
            throw new NetlinkFormatException($"netlink error message truncated ({payload.Length} bytes, needs 4)");
        return -BinaryPrimitives.ReadInt32LittleEndian(payload);
    }

    private uint NextSequence() => ++_sequence == 0 ? ++_sequence : _sequence;
}
