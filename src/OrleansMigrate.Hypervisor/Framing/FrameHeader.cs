namespace OrleansMigrate.Hypervisor.Framing;

/// <summary>
/// The fixed 40-byte frame header, little-endian:
/// <code>
///  0 u32 magic "OMGF"     4 u8 version   5 u8 type   6 u8 flags   7 u8 reserved (0)
///  8 u32 sequence        12 u32 round   16 u32 item count
/// 20 u32 payload length (on the wire)   24 u32 raw length (decoded)
/// 28 u64 XxHash3 of the payload as sent  36 u32 XxHash32 of bytes 0..35
/// </code>
/// The header has its own checksum so a corrupt length is caught before the receiver trusts it.
/// </summary>
/// <param name="Type">Frame kind.</param>
/// <param name="Flags">Compression flag.</param>
/// <param name="Sequence">Per-direction frame counter starting at 0; a gap or repeat is a protocol error.</param>
/// <param name="Round">Pre-copy round the frame belongs to (0 for control frames, final copy uses the next round number).</param>
/// <param name="ItemCount">Pages in a page batch, records in a session delta, 0 otherwise.</param>
/// <param name="PayloadLength">Payload bytes following the header on the wire.</param>
/// <param name="RawLength">Payload bytes after decompression (equals <paramref name="PayloadLength"/> when not compressed).</param>
/// <param name="PayloadChecksum">XxHash3-64 of the payload as sent (compressed bytes for an LZ4 frame), so every damaged byte is caught, even one that would decode to the same content.</param>
internal readonly record struct FrameHeader(
    FrameType Type,
    FrameFlags Flags,
    uint Sequence,
    uint Round,
    uint ItemCount,
    int PayloadLength,
    int RawLength,
    ulong PayloadChecksum)
{
    /// <summary>Header size in bytes.</summary>
    public const int Size = 40;

    /// <summary>"OMGF" read as a little-endian u32.</summary>
    public const uint Magic = 0x46474D4F;

    public const byte Version = 1;

    /// <summary>Largest payload, raw or on the wire: 16 MiB.</summary>
    public const int MaxPayloadBytes = 16 << 20;

    public bool IsCompressed => (Flags & FrameFlags.Lz4) != 0;

    /// <summary>Header plus payload on the wire.</summary>
    public int FrameLength => Size + PayloadLength;
}
