using System.Buffers.Binary;
using System.IO.Hashing;
using K4os.Compression.LZ4;

namespace OrleansMigrate.Hypervisor.Framing;

/// <summary>
/// Writes frames into caller-owned buffers: no sockets, no allocation. Large payloads are built in place
/// after <see cref="FrameHeader.Size"/> bytes of room and sealed with <see cref="SealRaw"/>, or compressed
/// from a raw buffer into the frame with <see cref="SealCompressed"/>.
/// </summary>
internal static class FrameEncoder
{
    /// <summary>Buffer size that holds a frame of <paramref name="rawLength"/> payload bytes, compressed or not.</summary>
    public static int MaxFrameLength(int rawLength) => FrameHeader.Size + Math.Max(rawLength, LZ4Codec.MaximumOutputSize(rawLength));

    /// <summary>Seals a frame whose raw payload already sits at <c>frame[Size..Size+rawLength]</c>; returns the frame length.</summary>
    public static int SealRaw(Span<byte> frame, FrameType type, uint sequence, uint round, uint itemCount, int rawLength)
    {
        CheckLength(rawLength);
        var payload = frame.Slice(FrameHeader.Size, rawLength);
        var header = new FrameHeader(type, FrameFlags.None, sequence, round, itemCount, rawLength, rawLength, XxHash3.HashToUInt64(payload));
        WriteHeader(frame, header);
        return header.FrameLength;
    }

    /// <summary>
    /// LZ4-compresses <paramref name="raw"/> (level L00_FAST) into <paramref name="frame"/> after the header.
    /// When LZ4 does not make it smaller the raw bytes are copied instead and <paramref name="compressed"/> is false.
    /// </summary>
    /// <returns>The frame length.</returns>
    public static int SealCompressed(ReadOnlySpan<byte> raw, Span<byte> frame, FrameType type, uint sequence, uint round, uint itemCount, out bool compressed)
    {
        CheckLength(raw.Length);
        var body = frame[FrameHeader.Size..];
        var encoded = raw.Length == 0 ? -1 : LZ4Codec.Encode(raw, body, LZ4Level.L00_FAST);
        FrameHeader header;
        if (encoded > 0 && encoded < raw.Length)
        {
            compressed = true;
            header = new FrameHeader(type, FrameFlags.Lz4, sequence, round, itemCount, encoded, raw.Length, XxHash3.HashToUInt64(body[..encoded]));
        }
        else
        {
            compressed = false;
            raw.CopyTo(body);
            header = new FrameHeader(type, FrameFlags.None, sequence, round, itemCount, raw.Length, raw.Length, XxHash3.HashToUInt64(raw));
        }

        WriteHeader(frame, header);
        return header.FrameLength;
    }

    /// <summary>Encodes a whole frame from a payload; for control frames and tests.</summary>
    public static int Encode(Span<byte> destination, FrameType type, uint sequence, uint round, uint itemCount, ReadOnlySpan<byte> payload, bool compress = false)
    {
        if (compress)
            return SealCompressed(payload, destination, type, sequence, round, itemCount, out _);
        payload.CopyTo(destination[FrameHeader.Size..]);
        return SealRaw(destination, type, sequence, round, itemCount, payload.Length);
    }

    /// <summary>Writes the 40-byte header, including its own checksum.</summary>
    public static void WriteHeader(Span<byte> destination, in FrameHeader header)
    {
        var h = destination[..FrameHeader.Size];
        BinaryPrimitives.WriteUInt32LittleEndian(h, FrameHeader.Magic);
        h[4] = FrameHeader.Version;
        h[5] = (byte)header.Type;
        h[6] = (byte)header.Flags;
        h[7] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], header.Sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], header.Round);
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], header.ItemCount);
        BinaryPrimitives.WriteInt32LittleEndian(h[20..], header.PayloadLength);
        BinaryPrimitives.WriteInt32LittleEndian(h[24..], header.RawLength);
        BinaryPrimitives.WriteUInt64LittleEndian(h[28..], header.PayloadChecksum);
        BinaryPrimitives.WriteUInt32LittleEndian(h[36..], XxHash32.HashToUInt32(h[..36]));
    }

    private static void CheckLength(int rawLength)
    {
        if (rawLength is < 0 or > FrameHeader.MaxPayloadBytes)
            throw new ArgumentOutOfRangeException(nameof(rawLength), rawLength, $"Payload must be 0..{FrameHeader.MaxPayloadBytes} bytes.");
    }
}
