using System.Buffers.Binary;
using System.Text;
using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Framing;

/// <summary>Payload codecs of the small control frames. Readers validate and throw <see cref="FrameFormatException"/>.</summary>
internal static class ControlMessages
{
    /// <summary>Room for any control payload.</summary>
    public const int MaxPayloadBytes = 4096;

    private const int MaxTextBytes = 2048;

    public static int WriteHello(Span<byte> destination, HelloMessage hello)
    {
        BinaryPrimitives.WriteInt32LittleEndian(destination, hello.ProtocolVersion);
        BinaryPrimitives.WriteInt32LittleEndian(destination[4..], hello.PageSize);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], hello.PageCount);
        destination[16] = (byte)hello.Compression;
        return 17 + WriteText(destination[17..], hello.VmId);
    }

    public static HelloMessage ReadHello(ReadOnlySpan<byte> payload)
    {
        Require(payload, 17 + 2, FrameType.Hello);
        var compression = (CompressionMode)payload[16];
        if (!Enum.IsDefined(compression))
            throw new FrameFormatException($"Hello names unknown compression mode {payload[16]}.");
        return new HelloMessage(
            BinaryPrimitives.ReadInt32LittleEndian(payload),
            ReadText(payload[17..], out _),
            BinaryPrimitives.ReadInt32LittleEndian(payload[4..]),
            BinaryPrimitives.ReadInt64LittleEndian(payload[8..]),
            compression);
    }

    public static int WriteHelloAck(Span<byte> destination, bool accepted, string message)
    {
        destination[0] = accepted ? (byte)1 : (byte)0;
        return 1 + WriteText(destination[1..], message);
    }

    public static (bool Accepted, string Message) ReadHelloAck(ReadOnlySpan<byte> payload)
    {
        Require(payload, 3, FrameType.HelloAck);
        if (payload[0] > 1)
            throw new FrameFormatException("Hello-ack flag must be 0 or 1.");
        return (payload[0] == 1, ReadText(payload[1..], out _));
    }

    public static int WriteError(Span<byte> destination, MigrationFailureKind kind, string message)
    {
        destination[0] = (byte)kind;
        return 1 + WriteText(destination[1..], message);
    }

    public static (MigrationFailureKind Kind, string Message) ReadError(ReadOnlySpan<byte> payload)
    {
        Require(payload, 3, FrameType.Error);
        var kind = (MigrationFailureKind)payload[0];
        if (!Enum.IsDefined(kind))
            kind = MigrationFailureKind.DestinationFailed;
        return (kind, ReadText(payload[1..], out _));
    }

    public static int WriteText(Span<byte> destination, string text)
    {
        var bytes = Encoding.UTF8.GetByteCount(text);
        if (bytes > MaxTextBytes)
        {
            text = text[..Math.Min(text.Length, MaxTextBytes / 4)];
            bytes = Encoding.UTF8.GetByteCount(text);
        }

        BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)bytes);
        return 2 + Encoding.UTF8.GetBytes(text, destination[2..]);
    }

    public static string ReadText(ReadOnlySpan<byte> payload, out int consumed)
    {
        if (payload.Length < 2)
            throw new FrameFormatException("Text field shorter than its length prefix.");
        var length = BinaryPrimitives.ReadUInt16LittleEndian(payload);
        if (length > MaxTextBytes || payload.Length < 2 + length)
            throw new FrameFormatException($"Text field of {length} bytes does not fit its frame.");
        consumed = 2 + length;
        return Encoding.UTF8.GetString(payload.Slice(2, length));
    }

    /// <summary>Round end: pages and session records the round carried (the destination cross-checks them).</summary>
    public static int WriteRoundEnd(Span<byte> destination, long pages, int sessionEntries)
    {
        BinaryPrimitives.WriteInt64LittleEndian(destination, pages);
        BinaryPrimitives.WriteInt32LittleEndian(destination[8..], sessionEntries);
        return 12;
    }

    public static (long Pages, int SessionEntries) ReadRoundEnd(ReadOnlySpan<byte> payload)
    {
        Require(payload, 12, FrameType.RoundEnd);
        return (BinaryPrimitives.ReadInt64LittleEndian(payload), BinaryPrimitives.ReadInt32LittleEndian(payload[8..]));
    }

    /// <summary>End and Ack carry the totals of the stream so each side can cross-check the other.</summary>
    public static int WriteTotals(Span<byte> destination, long frames, long pages)
    {
        BinaryPrimitives.WriteInt64LittleEndian(destination, frames);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], pages);
        return 16;
    }

    public static (long Frames, long Pages) ReadTotals(ReadOnlySpan<byte> payload, FrameType type)
    {
        Require(payload, 16, type);
        return (BinaryPrimitives.ReadInt64LittleEndian(payload), BinaryPrimitives.ReadInt64LittleEndian(payload[8..]));
    }

    private static void Require(ReadOnlySpan<byte> payload, int minimum, FrameType type)
    {
        if (payload.Length < minimum)
            throw new FrameFormatException($"{type} payload of {payload.Length} bytes, need at least {minimum}.");
    }
}
