using System.Buffers.Binary;
using OrleansMigrate.Hypervisor.Framing;

namespace OrleansMigrate.Hypervisor.Sessions;

/// <summary>
/// Fixed 40-byte wire record of a session change, little-endian:
/// <code>
///  0 u8 op (1 upsert, 2 delete)  1 u8 protocol  2 u8 state  3 u8 format (0 simulated, 1 conntrack)
///  4 u32 src addr  8 u32 dst addr  12 u16 src port  14 u16 dst port
/// format 0: 16 u64 packets  24 u64 bytes  32 i64 last-seen ticks
/// format 1: 16 u32 timeout s  20 u32 mark  24 u32 status  28 u16 zero  30 u8 has-tcp  31 u8 tcp state
///           32 u8 wscale orig  33 u8 wscale reply  34 u8 tcp flags orig  35 u8 tcp flags reply  36 u32 zero
/// </code>
/// Format 0 is the record as it always was (byte 3 was a reserved zero), so older records read unchanged. For ICMP
/// conntrack entries the ports hold the id (source) and type × 256 + code (destination).
/// A <see cref="FrameType.SessionDelta"/> payload is a run of these records.
/// </summary>
internal static class SessionDeltaCodec
{
    public const int RecordSize = 40;

    private const byte OpUpsert = 1;
    private const byte OpDelete = 2;
    private const byte FormatSimulated = 0;
    private const byte FormatConntrack = 1;

    public static void Write(Span<byte> destination, in SessionDeltaRecord record)
    {
        var d = destination[..RecordSize];
        d[0] = record.Deleted ? OpDelete : OpUpsert;
        d[1] = record.Key.Protocol;
        d[2] = record.Deleted ? (byte)0 : (byte)record.Entry.State;
        var entry = record.Deleted ? default : record.Entry;
        d[3] = entry.Conntrack is null ? FormatSimulated : FormatConntrack;
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], record.Key.SourceAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], record.Key.DestinationAddress);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], record.Key.SourcePort);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], record.Key.DestinationPort);
        if (entry.Conntrack is { } ct)
        {
            d[16..].Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(d[16..], ct.TimeoutSeconds);
            BinaryPrimitives.WriteUInt32LittleEndian(d[20..], ct.Mark);
            BinaryPrimitives.WriteUInt32LittleEndian(d[24..], ct.Status);
            if (ct.Tcp is { } tcp)
            {
                d[30] = 1;
                d[31] = tcp.State;
                d[32] = tcp.WindowScaleOriginal;
                d[33] = tcp.WindowScaleReply;
                d[34] = tcp.FlagsOriginal;
                d[35] = tcp.FlagsReply;
            }

            return;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(d[16..], entry.Packets);
        BinaryPrimitives.WriteUInt64LittleEndian(d[24..], entry.Bytes);
        BinaryPrimitives.WriteInt64LittleEndian(d[32..], entry.LastSeenTicks);
    }

    public static SessionDeltaRecord Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < RecordSize)
            throw new FrameFormatException("Truncated session record.");
        var s = source[..RecordSize];
        var deleted = s[0] switch
        {
            OpUpsert => false,
            OpDelete => true,
            _ => throw new FrameFormatException($"Unknown session op {s[0]}."),
        };
        var state = (SessionState)s[2];
        if (!deleted && !Enum.IsDefined(state))
            throw new FrameFormatException($"Unknown session state {s[2]}.");
        if (s[3] is not (FormatSimulated or FormatConntrack))
            throw new FrameFormatException($"Unknown session record format {s[3]}.");
        var key = new FlowKey(
            BinaryPrimitives.ReadUInt32LittleEndian(s[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[8..]),
            BinaryPrimitives.ReadUInt16LittleEndian(s[12..]),
            BinaryPrimitives.ReadUInt16LittleEndian(s[14..]),
            s[1]);
        if (s[3] == FormatConntrack)
            return new SessionDeltaRecord(key, deleted, deleted ? default : ReadConntrack(state, s));
        var entry = deleted
            ? default
            : new SessionEntry(state, BinaryPrimitives.ReadUInt64LittleEndian(s[16..]), BinaryPrimitives.ReadUInt64LittleEndian(s[24..]), BinaryPrimitives.ReadInt64LittleEndian(s[32..]));
        return new SessionDeltaRecord(key, deleted, entry);
    }

    private static SessionEntry ReadConntrack(SessionState state, ReadOnlySpan<byte> s)
    {
        if (s[28] != 0 || s[29] != 0 || BinaryPrimitives.ReadUInt32LittleEndian(s[36..]) != 0)
            throw new FrameFormatException("Conntrack session record reserved bytes are not zero.");
        Conntrack.ConntrackTcpInfo? tcp = s[30] switch
        {
            0 when s[31..36].IndexOfAnyExcept((byte)0) < 0 => null,
            0 => throw new FrameFormatException("Conntrack session record has TCP fields without its TCP flag."),
            1 => new Conntrack.ConntrackTcpInfo(s[31], s[32], s[33], s[34], s[35]),
            _ => throw new FrameFormatException($"Conntrack session record TCP flag is {s[30]}, not 0 or 1."),
        };
        return new SessionEntry(state, 0, 0, 0)
        {
            Conntrack = new ConntrackSessionDetail(
                BinaryPrimitives.ReadUInt32LittleEndian(s[24..]),
                BinaryPrimitives.ReadUInt32LittleEndian(s[16..]),
                BinaryPrimitives.ReadUInt32LittleEndian(s[20..]),
                tcp),
        };
    }
}
