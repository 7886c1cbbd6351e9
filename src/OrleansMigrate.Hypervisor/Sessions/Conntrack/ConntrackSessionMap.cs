using System.IO.Hashing;

namespace OrleansMigrate.Hypervisor.Sessions.Conntrack;

/// <summary>Why a conntrack entry is not carried as a session.</summary>
public enum ConntrackSkipReason
{
    /// <summary>Carried.</summary>
    None = 0,

    /// <summary>The reply tuple is not the original reversed (NAT): the 40-byte session record has no room for it.</summary>
    Nat = 1,

    /// <summary>A conntrack zone other than 0: the session key has no zone.</summary>
    Zone = 2,

    /// <summary>Not TCP, UDP or ICMP.</summary>
    Protocol = 3,
}

/// <summary>
/// The mapping between conntrack entries and the data plane's session model: the original tuple is the
/// <see cref="FlowKey"/> (for ICMP the ports hold the id and type × 256 + code), the rest is the
/// <see cref="ConntrackSessionDetail"/> of the <see cref="SessionEntry"/>, counters left at 0.
/// </summary>
public static class ConntrackSessionMap
{
    /// <summary>Status bits compared between a source and a destination: the ones a created entry can carry.</summary>
    public const uint ComparedStatus = ConntrackEntry.SettableStatus;

    /// <summary>TCP flag bits compared (WINDOW_SCALE, SACK_PERM, CLOSE_INIT, BE_LIBERAL); the others move with traffic.</summary>
    public const byte ComparedTcpFlags = 0x0F;

    /// <summary>Whether <paramref name="entry"/> can be carried, and why not.</summary>
    public static ConntrackSkipReason Check(ConntrackEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.Original.Protocol is not (ConntrackTuple.Tcp or ConntrackTuple.Udp or ConntrackTuple.Icmp))
            return ConntrackSkipReason.Protocol;
        if (entry.Zone != 0)
            return ConntrackSkipReason.Zone;
        return entry.Original.Inverse() == entry.Reply ? ConntrackSkipReason.None : ConntrackSkipReason.Nat;
    }

    /// <summary>The session key of an original tuple.</summary>
    public static FlowKey KeyOf(in ConntrackTuple original) => original.Protocol == ConntrackTuple.Icmp
        ? new FlowKey(original.Source, original.Destination, original.IcmpId, (ushort)((original.IcmpType << 8) | original.IcmpCode), original.Protocol)
        : new FlowKey(original.Source, original.Destination, original.SourcePort, original.DestinationPort, original.Protocol);

    /// <summary>The original tuple a session key stands for.</summary>
    public static ConntrackTuple TupleOf(in FlowKey key) => key.Protocol == ConntrackTuple.Icmp
        ? new ConntrackTuple(key.SourceAddress, key.DestinationAddress, key.Protocol, IcmpId: key.SourcePort, IcmpType: (byte)(key.DestinationPort >> 8), IcmpCode: (byte)key.DestinationPort)
        : new ConntrackTuple(key.SourceAddress, key.DestinationAddress, key.Protocol, key.SourcePort, key.DestinationPort);

    /// <summary>The session of a carried entry (see <see cref="Check"/>; throws <see cref="ArgumentException"/> for
    /// one that cannot be carried).</summary>
    public static (FlowKey Key, SessionEntry Entry) ToSession(ConntrackEntry entry)
    {
        var reason = Check(entry);
        if (reason != ConntrackSkipReason.None)
            throw new ArgumentException($"conntrack entry {entry} cannot be carried as a session: {reason}", nameof(entry));
        var state = entry.Tcp is { } tcp
            ? tcp.State switch
            {
                ConntrackTcpInfo.Established => SessionState.Established,
                4 or 5 or 6 or 8 => SessionState.Closing,
                7 => SessionState.TimeWait,
                _ => SessionState.New,
            }
            : (entry.Status & ConntrackEntry.StatusSeenReply) != 0 ? SessionState.Established : SessionState.New;
        return (KeyOf(entry.Original), new SessionEntry(state, 0, 0, 0)
        {
            Conntrack = new ConntrackSessionDetail(entry.Status, entry.TimeoutSeconds, entry.Mark, entry.Tcp),
        });
    }

    /// <summary>The conntrack entry a session stands for (reply tuple = original reversed, zone 0). Throws
    /// <see cref="ArgumentException"/> when the session carries no conntrack detail (a simulated session).</summary>
    public static ConntrackEntry ToEntry(in FlowKey key, in SessionEntry session)
    {
        if (session.Conntrack is not { } detail)
            throw new ArgumentException($"session {ConntrackAddress.Format(key.SourceAddress)}:{key.SourcePort} -> {ConntrackAddress.Format(key.DestinationAddress)}:{key.DestinationPort} proto {key.Protocol} carries no conntrack detail (a simulated session)", nameof(session));
        var original = TupleOf(key);
        var reply = original.Inverse()
            ?? throw new ArgumentException($"session {original} is an ICMP type without a reply type", nameof(key));
        return new ConntrackEntry(original, reply, detail.Status, detail.TimeoutSeconds, detail.Mark, 0, detail.Tcp);
    }

    /// <summary>Whether two sessions are the same apart from the time left (which falls every second).</summary>
    public static bool SameIgnoringTimeout(in SessionEntry a, in SessionEntry b) =>
        a.State == b.State && a.Packets == b.Packets && a.Bytes == b.Bytes && a.LastSeenTicks == b.LastSeenTicks
        && a.Conntrack is { } x && b.Conntrack is { } y && x with { TimeoutSeconds = 0 } == y with { TimeoutSeconds = 0 };

    /// <summary>
    /// Order-independent digest of a set of conntrack entries over what a copy must preserve: both tuples, the
    /// protocol state, mark, and the compared status and TCP-flag bits — not the time left, the id or counters.
    /// Equal tables have equal digests.
    /// </summary>
    public static SessionTableDigest Digest(IEnumerable<ConntrackEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        Span<byte> record = stackalloc byte[64];
        ulong hash = 0;
        long count = 0;
        foreach (var entry in entries)
        {
            count++;
            hash += XxHash3.HashToUInt64(Canonical(entry, record));
        }

        return new SessionTableDigest(count, hash);
    }

    /// <summary>Compares a source's and a destination's entries (each read back from its conntrack table).</summary>
    public static ConntrackTableComparison Compare(IReadOnlyCollection<ConntrackEntry> source, IReadOnlyCollection<ConntrackEntry> destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        var theirs = new Dictionary<ConntrackTuple, ConntrackEntry>();
        foreach (var e in destination)
            theirs[e.Original] = e;
        var missing = new List<ConntrackTuple>();
        var different = new List<ConntrackTuple>();
        Span<byte> a = stackalloc byte[64];
        Span<byte> b = stackalloc byte[64];
        foreach (var e in source)
        {
            if (!theirs.Remove(e.Original, out var other))
                missing.Add(e.Original);
            else if (!Canonical(e, a).SequenceEqual(Canonical(other, b)))
                different.Add(e.Original);
        }

        return new ConntrackTableComparison(Digest(source), Digest(destination), missing, [.. theirs.Keys], different);
    }

    private static ReadOnlySpan<byte> Canonical(ConntrackEntry e, Span<byte> r)
    {
        r.Clear();
        WriteTuple(r, e.Original);
        WriteTuple(r[20..], e.Reply);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(r[40..], e.Status & ComparedStatus);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(r[44..], e.Mark);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(r[48..], e.Zone);
        if (e.Tcp is { } t)
        {
            r[50] = 1;
            r[51] = t.State;
            r[52] = t.WindowScaleOriginal;
            r[53] = t.WindowScaleReply;
            r[54] = (byte)(t.FlagsOriginal & ComparedTcpFlags);
            r[55] = (byte)(t.FlagsReply & ComparedTcpFlags);
        }

        return r[..56];
    }

    private static void WriteTuple(Span<byte> r, in ConntrackTuple t)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(r, t.Source);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(r[4..], t.Destination);
        r[8] = t.Protocol;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(r[9..], t.SourcePort);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(r[11..], t.DestinationPort);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(r[13..], t.IcmpId);
        r[15] = t.IcmpType;
        r[16] = t.IcmpCode;
    }
}

/// <summary>A source's conntrack entries against a destination's, both read back from the kernel.</summary>
/// <param name="Missing">Original tuples the source has and the destination lacks.</param>
/// <param name="Extra">Original tuples only the destination has.</param>
/// <param name="Different">Tuples on both sides whose compared fields differ.</param>
public sealed record ConntrackTableComparison(SessionTableDigest Source, SessionTableDigest Destination,
    IReadOnlyList<ConntrackTuple> Missing, IReadOnlyList<ConntrackTuple> Extra, IReadOnlyList<ConntrackTuple> Different)
{
    /// <summary>True when the digests are equal and no entry is missing, extra or different.</summary>
    public bool Consistent => Source == Destination && Missing.Count == 0 && Extra.Count == 0 && Different.Count == 0;
}
