using System.Buffers.Binary;

namespace OrleansMigrate.Hypervisor.Sessions.Conntrack;

/// <summary>A netlink message or attribute that does not parse: the message says which field and why.</summary>
public sealed class NetlinkFormatException(string message) : Exception(message);

/// <summary>Netlink framing constants (<c>linux/netlink.h</c>, <c>linux/netfilter/nfnetlink.h</c>).</summary>
internal static class Netlink
{
    public const int HeaderLength = 16;
    public const int NfGenLength = 4;
    public const int AttributeHeaderLength = 4;

    public const ushort FlagRequest = 0x1;
    public const ushort FlagMulti = 0x2;
    public const ushort FlagAck = 0x4;
    public const ushort FlagDump = 0x300;
    public const ushort FlagReplace = 0x100;
    public const ushort FlagExcl = 0x200;
    public const ushort FlagCreate = 0x400;

    public const ushort MessageNoop = 1;
    public const ushort MessageError = 2;
    public const ushort MessageDone = 3;
    public const ushort MessageOverrun = 4;

    public const ushort AttributeNested = 0x8000;
    public const ushort AttributeNetByteOrder = 0x4000;
    public const ushort AttributeTypeMask = 0x3FFF;

    public static int Align(int length) => (length + 3) & ~3;
}

/// <summary>One netlink message as read: its header fields and the payload after the 16-byte header.</summary>
internal readonly ref struct NetlinkMessage(ushort type, ushort flags, uint sequence, uint portId, ReadOnlySpan<byte> payload)
{
    public ushort Type { get; } = type;
    public ushort Flags { get; } = flags;
    public uint Sequence { get; } = sequence;
    public uint PortId { get; } = portId;
    public ReadOnlySpan<byte> Payload { get; } = payload;
}

/// <summary>Walks the netlink messages of one received datagram, checking every length against what is left.</summary>
internal ref struct NetlinkMessageReader(ReadOnlySpan<byte> datagram)
{
    private ReadOnlySpan<byte> _rest = datagram;

    /// <summary>Reads the next message; false at the end. Throws <see cref="NetlinkFormatException"/> on a length that
    /// is shorter than a header or runs past the datagram.</summary>
    public bool TryRead(out NetlinkMessage message)
    {
        message = default;
        if (_rest.IsEmpty)
            return false;
        if (_rest.Length < Netlink.HeaderLength)
            throw new NetlinkFormatException($"netlink message header truncated: {_rest.Length} bytes left, a header is {Netlink.HeaderLength}");
        var length = BinaryPrimitives.ReadUInt32LittleEndian(_rest);
        if (length < Netlink.HeaderLength || length > _rest.Length)
            throw new NetlinkFormatException($"netlink message length {length} is out of range (header {Netlink.HeaderLength}, {_rest.Length} bytes left)");
        message = new NetlinkMessage(
            BinaryPrimitives.ReadUInt16LittleEndian(_rest[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(_rest[6..]),
            BinaryPrimitives.ReadUInt32LittleEndian(_rest[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(_rest[12..]),
            _rest[Netlink.HeaderLength..(int)length]);
        var next = Math.Min(Netlink.Align((int)length), _rest.Length);
        _rest = _rest[next..];
        return true;
    }
}

/// <summary>
/// The attributes of one level of a netlink message, indexed by type (flags <c>NLA_F_NESTED</c> and
/// <c>NLA_F_NET_BYTEORDER</c> masked off). Types above <see cref="MaxType"/> are skipped (newer kernels add
/// attributes); a repeated type keeps its last value, as the kernel does.
/// </summary>
internal readonly ref struct NetlinkAttributes
{
    /// <summary>The highest attribute type kept.</summary>
    public const int MaxType = 31;

    private readonly ReadOnlySpan<byte> _data;
    private readonly Span<int> _offsets;
    private readonly Span<int> _lengths;

    private NetlinkAttributes(ReadOnlySpan<byte> data, Span<int> offsets, Span<int> lengths)
    {
        _data = data;
        _offsets = offsets;
        _lengths = lengths;
    }

    /// <summary>Parses <paramref name="data"/> (a run of attributes). Throws <see cref="NetlinkFormatException"/>
    /// naming <paramref name="where"/> when an attribute's length is below its header or runs past the data, or when
    /// more than 4096 attributes are present.</summary>
    public static NetlinkAttributes Parse(ReadOnlySpan<byte> data, string where)
    {
        var offsets = new int[MaxType + 1];
        var lengths = new int[MaxType + 1];
        Array.Fill(offsets, -1);
        var position = 0;
        for (var count = 0; position < data.Length; count++)
        {
            if (count >= 4096)
                throw new NetlinkFormatException($"{where}: more than 4096 attributes");
            if (data.Length - position < Netlink.AttributeHeaderLength)
                throw new NetlinkFormatException($"{where}: attribute header truncated at offset {position} ({data.Length - position} bytes left)");
            var length = BinaryPrimitives.ReadUInt16LittleEndian(data[position..]);
            var type = BinaryPrimitives.ReadUInt16LittleEndian(data[(position + 2)..]) & Netlink.AttributeTypeMask;
            if (length < Netlink.AttributeHeaderLength || length > data.Length - position)
                throw new NetlinkFormatException($"{where}: attribute type {type} at offset {position} has length {length}, out of range (4..{data.Length - position})");
            if (type <= MaxType)
            {
                offsets[type] = position + Netlink.AttributeHeaderLength;
                lengths[type] = length - Netlink.AttributeHeaderLength;
            }

            position += Math.Min(Netlink.Align(length), data.Length - position);
        }

        return new NetlinkAttributes(data, offsets, lengths);
    }

    public bool Has(int type) => type is >= 0 and <= MaxType && _offsets[type] >= 0;

    /// <summary>The payload of attribute <paramref name="type"/>; empty when absent.</summary>
    public ReadOnlySpan<byte> Get(int type) => Has(type) ? _data.Slice(_offsets[type], _lengths[type]) : [];

    public byte U8(int type, string name) => Fixed(type, name, 1)[0];

    public ushort U16Be(int type, string name) => BinaryPrimitives.ReadUInt16BigEndian(Fixed(type, name, 2));

    public uint U32Be(int type, string name) => BinaryPrimitives.ReadUInt32BigEndian(Fixed(type, name, 4));

    public ulong U64Be(int type, string name) => BinaryPrimitives.ReadUInt64BigEndian(Fixed(type, name, 8));

    /// <summary>The attributes nested in <paramref name="type"/>, which must be present.</summary>
    public NetlinkAttributes Nested(int type, string name)
    {
        if (!Has(type))
            throw new NetlinkFormatException($"{name} (attribute {type}) is missing");
        return Parse(Get(type), name);
    }

    private ReadOnlySpan<byte> Fixed(int type, string name, int size)
    {
        if (!Has(type))
            throw new NetlinkFormatException($"{name} (attribute {type}) is missing");
        if (_lengths[type] < size)
            throw new NetlinkFormatException($"{name} (attribute {type}) has {_lengths[type]} bytes, needs {size}");
        return _data.Slice(_offsets[type], size);
    }
}

/// <summary>Builds netlink messages into one growing buffer (several messages make one <c>sendmsg</c> batch):
/// native-endian headers, attributes padded to 4 bytes with zeros, nested attributes closed with their length.</summary>
internal sealed class NetlinkMessageBuilder
{
    private byte[] _buffer;
    private int _length;

    public NetlinkMessageBuilder(int capacity = 16 * 1024) => _buffer = new byte[capacity];

    public int Length => _length;

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

    public void Clear() => _length = 0;

    /// <summary>Starts a message with its netlink header and the 4-byte <c>nfgenmsg</c> (family, version 0, res_id 0);
    /// returns its start for <see cref="EndMessage"/>.</summary>
    public int BeginMessage(ushort type, ushort flags, uint sequence, byte family)
    {
        var start = _length;
        var h = Reserve(Netlink.HeaderLength + Netlink.NfGenLength);
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], 0);
        h[16] = family;
        h[17] = 0;
        h[18] = 0;
        h[19] = 0;
        return start;
    }

    public void EndMessage(int start) => BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(start), (uint)(_length - start));

    public int BeginNested(int type)
    {
        var start = _length;
        var h = Reserve(Netlink.AttributeHeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(h, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(h[2..], (ushort)(type | Netlink.AttributeNested));
        return start;
    }

    public void EndNested(int start)
    {
        var length = _length - start;
        if (length > ushort.MaxValue)
            throw new NetlinkFormatException($"nested attribute of {length} bytes exceeds 65535");
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(start), (ushort)length);
    }

    public void PutU8(int type, byte value) => Attribute(type, 1)[0] = value;

    public void PutU16Be(int type, ushort value) => BinaryPrimitives.WriteUInt16BigEndian(Attribute(type, 2), value);

    public void PutU32Be(int type, uint value) => BinaryPrimitives.WriteUInt32BigEndian(Attribute(type, 4), value);

    public void PutBytes(int type, ReadOnlySpan<byte> value) => value.CopyTo(Attribute(type, value.Length));

    private Span<byte> Attribute(int type, int size)
    {
        if (type is < 1 or > Netlink.AttributeTypeMask)
            throw new ArgumentOutOfRangeException(nameof(type), type, "attribute type must be 1..16383");
        if (size > ushort.MaxValue - Netlink.AttributeHeaderLength)
            throw new ArgumentOutOfRangeException(nameof(size), size, "attribute payload must be at most 65531 bytes");
        var all = Reserve(Netlink.Align(Netlink.AttributeHeaderLength + size));
        all.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(all, (ushort)(Netlink.AttributeHeaderLength + size));
        BinaryPrimitives.WriteUInt16LittleEndian(all[2..], (ushort)type);
        return all.Slice(Netlink.AttributeHeaderLength, size);
    }

    private Span<byte> Reserve(int size)
    {
        if (_length + size > _buffer.Length)
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + size));
        var span = _buffer.AsSpan(_length, size);
        _length += size;
        return span;
    }
}
