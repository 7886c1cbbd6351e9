namespace OrleansMigrate.Hypervisor.Framing;

/// <summary>Per-frame flags.</summary>
[Flags]
internal enum FrameFlags : byte
{
    None = 0,

    /// <summary>The payload is one LZ4 block (LZ4Codec, raw block format) that decodes to <see cref="FrameHeader.RawLength"/> bytes.</summary>
    Lz4 = 1,
}
