namespace OrleansMigrate.Hypervisor.Sessions.Conntrack;

/// <summary>What happened to an entry.</summary>
public enum ConntrackEventKind
{
    New = 1,
    Update = 2,
    Destroy = 3,
}

/// <summary>One conntrack event: the kind and the entry as the kernel reported it.</summary>
public sealed record ConntrackEvent(ConntrackEventKind Kind, ConntrackEntry Entry);

/// <summary>The outcome of one <see cref="ConntrackEventStream.Read"/>.</summary>
/// <param name="Events">Events kept by the filter, in arrival order.</param>
/// <param name="Overrun">True when the kernel dropped events for this socket (ENOBUFS) since the last read: the
/// events are incomplete and the caller must read the whole table again.</param>
/// <param name="Seen">Events received before filtering.</param>
public sealed record ConntrackEventBatch(IReadOnlyList<ConntrackEvent> Events, bool Overrun, int Seen);

/// <summary>
/// A subscription to the conntrack event groups (<c>NFNLGRP_CONNTRACK_NEW</c>, <c>_UPDATE</c>, <c>_DESTROY</c>) of one
/// network namespace, used as a dirty log. An overflow of the socket (<c>ENOBUFS</c>) is reported, never skipped.
/// Note: with <c>net.netfilter.nf_conntrack_events=2</c> (the kernel's default) entries made while no listener existed
/// send no events; <see cref="EventsSysctl"/> reads the setting so a caller can tell.
/// </summary>
public sealed class ConntrackEventStream : IDisposable
{
    private const int GroupNew = 1;
    private const int GroupUpdate = 2;
    private const int GroupDestroy = 3;
    private const int MaxMessagesPerRead = 1_000_000;

    private readonly NetlinkSocket _socket;
    private readonly byte[] _receive = new byte[256 * 1024];

    private ConntrackEventStream(NetlinkSocket socket) => _socket = socket;

    /// <summary>The namespace the subscription listens in (null: the process's own).</summary>
    public string? Namespace => _socket.Namespace;

    /// <summary>Subscribes in <paramref name="ns"/> (null: this process's namespace) with a receive buffer of
    /// <paramref name="receiveBufferBytes"/> (forced past <c>rmem_max</c> when the process may).</summary>
    public static ConntrackEventStream Open(string? ns = null, int receiveBufferBytes = 8 * 1024 * 1024)
    {
        if (receiveBufferBytes is < 4096 or > 1024 * 1024 * 1024)
            throw new ArgumentOutOfRangeException(nameof(receiveBufferBytes), receiveBufferBytes, "receive buffer must be 4 KiB..1 GiB");
        return new ConntrackEventStream(ConntrackClient.OpenSocket(ns, [GroupNew, GroupUpdate, GroupDestroy], receiveBufferBytes, 64 * 1024));
    }

    /// <summary>The value of <c>net.netfilter.nf_conntrack_events</c> in <paramref name="ns"/> (0 off, 1 on, 2 only
    /// for entries made while a listener exists), or null when it cannot be read.</summary>
    public static int? EventsSysctl(string? ns) =>
        Linux.NetNamespace.Run(ns, () =>
        {
            try
            {
                return int.TryParse(File.ReadAllText("/proc/sys/net/netfilter/nf_conntrack_events").Trim(), out var v) ? v : (int?)null;
            }
            catch (IOException)
            {
                return null;
            }
            catch (UnauthorizedAccessException)
            {
                return null;
            }
        });

    /// <summary>
    /// Reads the events queued now, waiting up to <paramref name="wait"/> for the first one, then draining without
    /// waiting (at most <paramref name="maxEvents"/>). Keeps those <paramref name="filter"/> accepts (all when null).
    /// </summary>
    public ConntrackEventBatch Read(TimeSpan wait, Func<ConntrackEntry, bool>? filter = null, int maxEvents = 100_000)
    {
        if (maxEvents < 1)
            throw new ArgumentOutOfRangeException(nameof(maxEvents), maxEvents, "must be at least 1");
        var events = new List<ConntrackEvent>();
        var overrun = false;
        var seen = 0;
        var first = true;
        for (var messages = 0; messages < MaxMessagesPerRead && seen < maxEvents;)
        {
            var n = _socket.Receive(_receive, first ? wait : TimeSpan.Zero);
            first = false;
            if (n == -NetlinkSocket.Enobufs)
            {
                overrun = true;
                continue;
            }

            if (n == 0)
                break;
            var reader = new NetlinkMessageReader(_receive.AsSpan(0, n));
            while (reader.TryRead(out var message))
            {
                messages++;
                if (message.Type == Netlink.MessageOverrun)
                {
                    overrun = true;
                    continue;
                }

                var kind = message.Type switch
                {
                    ConntrackMessages.TypeNew when (message.Flags & (Netlink.FlagCreate | Netlink.FlagExcl)) != 0 => ConntrackEventKind.New,
                    ConntrackMessages.TypeNew => ConntrackEventKind.Update,
                    ConntrackMessages.TypeDelete => ConntrackEventKind.Destroy,
                    _ => (ConntrackEventKind)0,
                };
                if (kind == 0 || ConntrackMessages.ParseEntry(message.Payload) is not { } entry)
                    continue;
                seen++;
                if (filter is null || filter(entry))
                    events.Add(new ConntrackEvent(kind, entry));
            }
        }

        return new ConntrackEventBatch(events, overrun, seen);
    }

    public void Dispose() => _socket.Dispose();
}
