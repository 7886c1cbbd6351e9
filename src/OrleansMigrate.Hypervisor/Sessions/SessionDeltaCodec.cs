using System.Buffers.Binary;
using OrleansMigrate.Hypervisor.Framing;

namespace OrleansMigrate.Hypervisor.Sessions;

/// <summary>
/// Fixed 40-byte wire record of a session change, little-endian:
/// <code>
///  0 u8 op (1 upsert, 2 delete)  1 u8 protocol  2 u8 state  3 u8 reserved
///  4 u32 src addr  8 u32 dst addr  12 u16 src port  14 u16 dst port
/// 16 u64 packets  24 u64 bytes  32 i64 last-seen ticks
/// </code>
/// A <see cref="FrameType.SessionDelta"/> payload is a run of these records.
/// </summary>
internal static class SessionDeltaCodec
{
    public const int RecordSize = 40;

    private const byte OpUpsert = 1;
    private const byte OpDelete = 2;

    public static void Write(Span<byte> destination, in SessionDeltaRecord record)
    {
        var d = destination[..RecordSize];
        d[0] = record.Deleted ? OpDelete : OpUpsert;
        d[1] = record.Key.Protocol;
        d[2] = record.Deleted ? (byte)0 : (byte)record.Entry.State;
        d[3] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], record.Key.SourceAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], record.Key.DestinationAddress);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], record.Key.SourcePort);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], record.Key.DestinationPort);
        var entry = record.Deleted ? default : record.Entry;
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
        if (s[3] != 0)
            throw new FrameFormatException("Session record reserved byte is not zero.");
        var key = new FlowKey(
            BinaryPrimitives.ReadUInt32LittleEndian(s[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[8..]),
            BinaryPrimitives.ReadUInt16LittleEndian(s[12..]),
            BinaryPrimitives.ReadUInt16LittleEndian(s[14..]),
            s[1]);
        var entry = deleted
            ? default
            : new SessionEntry(state, BinaryPrimitives.ReadUInt64LittleEndian(s[16..]), BinaryPrimitives.ReadUInt64LittleEndian(s[24..]), BinaryPrimitives.ReadInt64LittleEndian(s[32..]));
        return new SessionDeltaRecord(key, deleted, entry);
    }
}
