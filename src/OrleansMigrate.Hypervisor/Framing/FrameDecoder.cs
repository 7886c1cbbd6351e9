using System.Buffers.Binary;
using System.IO.Hashing;
using K4os.Compression.LZ4;

namespace OrleansMigrate.Hypervisor.Framing;

/// <summary>
/// Reads frames from bytes: no sockets. Every malformed input ends in <see cref="FrameFormatException"/>;
/// nothing reads outside the given spans and no length is trusted before the header checksum passed.
/// </summary>
internal static class FrameDecoder
{
    /// <summary>Parses and validates a header (the first <see cref="FrameHeader.Size"/> bytes of <paramref name="bytes"/>).</summary>
    public static FrameHeader ReadHeader(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < FrameHeader.Size)
            throw new FrameFormatException($"Header needs {FrameHeader.Size} bytes, got {bytes.Length}.");
        var h = bytes[..FrameHeader.Size];
        var magic = BinaryPrimitives.ReadUInt32LittleEndian(h);
        if (magic != FrameHeader.Magic)
            throw new FrameFormatException($"Bad frame magic 0x{magic:X8}.");
        var headerChecksum = BinaryPrimitives.ReadUInt32LittleEndian(h[36..]);
        if (headerChecksum != XxHash32.HashToUInt32(h[..36]))
            throw new FrameFormatException("Frame header checksum mismatch.");
        if (h[4] != FrameHeader.Version)
            throw new FrameFormatException($"Unsupported frame version {h[4]}.");
        var type = (FrameType)h[5];
        if (!Enum.IsDefined(type))
            throw new FrameFormatException($"Unknown frame type {h[5]}.");
        var flags = (FrameFlags)h[6];
        if ((flags & ~FrameFlags.Lz4) != 0 || h[7] != 0)
            throw new FrameFormatException($"Unknown frame flags 0x{h[6]:X2}/0x{h[7]:X2}.");
        var payloadLength = BinaryPrimitives.ReadInt32LittleEndian(h[20..]);
        var rawLength = BinaryPrimitives.ReadInt32LittleEndian(h[24..]);
        if (payloadLength is < 0 or > FrameHeader.MaxPayloadBytes || rawLength is < 0 or > FrameHeader.MaxPayloadBytes)
            throw new FrameFormatException($"Frame lengths out of range: payload {payloadLength}, raw {rawLength}.");
        if ((flags & FrameFlags.Lz4) == 0 && rawLength != payloadLength)
            throw new FrameFormatException($"Uncompressed frame with payload {payloadLength} != raw {rawLength}.");
        return new FrameHeader(
            type,
            flags,
            BinaryPrimitives.ReadUInt32LittleEndian(h[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(h[12..]),
            BinaryPrimitives.ReadUInt32LittleEndian(h[16..]),
            payloadLength,
            rawLength,
            BinaryPrimitives.ReadUInt64LittleEndian(h[28..]));
    }

    /// <summary>
    /// Verifies the payload checksum (over the bytes as sent, so any damage on the way is caught before the
    /// LZ4 decoder sees it) and, if compressed, decodes it. Returns the raw payload: <paramref name="wirePayload"/>
    /// itself when uncompressed, else a slice of <paramref name="scratch"/>.
    /// </summary>
    public static ReadOnlySpan<byte> DecodePayload(scoped in FrameHeader header, ReadOnlySpan<byte> wirePayload, Span<byte> scratch)
    {
        if (wirePayload.Length != header.PayloadLength)
            throw new FrameFormatException($"Payload is {wirePayload.Length} bytes, header says {header.PayloadLength}.");
        if (XxHash3.HashToUInt64(wirePayload) != header.PayloadChecksum)
            throw new FrameFormatException($"Payload checksum mismatch in {header.Type} frame #{header.Sequence}.");
        if (!header.IsCompressed)
            return wirePayload;
        if (scratch.Length < header.RawLength)
            throw new FrameFormatException($"Decoded frame of {header.RawLength} bytes exceeds the {scratch.Length}-byte buffer.");
        var target = scratch[..header.RawLength];
        var decoded = LZ4Codec.Decode(wirePayload, target);
        if (decoded != header.RawLength)
            throw new FrameFormatException($"LZ4 payload decoded to {decoded} bytes, expected {header.RawLength}.");
        return target;
    }

    /// <summary>
    /// Decodes one frame from the start of <paramref name="input"/>. Returns false when <paramref name="input"/>
    /// holds only a prefix of a frame (a truncated stream); throws <see cref="FrameFormatException"/> when the bytes
    /// cannot be a frame.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> input, Span<byte> scratch, out FrameHeader header, out ReadOnlySpan<byte> payload, out int consumed)
    {
        payload = default;
        consumed = 0;
        header = default;
        if (input.Length < FrameHeader.Size)
            return false;
        header = ReadHeader(input);
        if (input.Length < header.FrameLength)
            return false;
        payload = DecodePayload(header, input.Slice(FrameHeader.Size, header.PayloadLength), scratch);
        consumed = header.FrameLength;
        return true;
    }
}
