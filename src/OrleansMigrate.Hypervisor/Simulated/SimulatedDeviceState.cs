using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using OrleansMigrate.Hypervisor.Framing;
using OrleansMigrate.Hypervisor.Sessions;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// The simulated guest's device state, captured at pause: vCPU registers and device models (bytes derived
/// from the pass counter, so the destination can check them), plus the consistency manifest the destination
/// verifies against — the digest and sum of the per-page generation vector, the pass counter (total page
/// writes, which must equal that sum), the content mix and seed, and the session-table digest.
/// </summary>
/// <remarks>
/// Layout, little-endian: magic u64, version u32, vCPUs u32, page count u64, seed u64, mix 3×u8 + pad,
/// total bytes u32, pass counter u64, generation sum u64, generation digest u64, session count u64,
/// session hash u64, then 512 register bytes per vCPU, filler, and an XxHash3 of everything before it.
/// </remarks>
internal sealed record SimulatedDeviceState(
    int VCpuCount,
    long PageCount,
    ulong Seed,
    ContentMix Content,
    long PassCounter,
    ulong GenerationSum,
    ulong GenerationDigest,
    SessionTableDigest Sessions,
    int TotalBytes)
{
    public const int RegisterBytesPerVCpu = 512;

    private const ulong Magic = 0x5356_4544_4749_4D4F; // "OMIGDEVS"
    private const int Version = 1;
    private const int FixedBytes = 80;

    /// <summary>Blob size for a configured size and vCPU count (registers always fit).</summary>
    public static int SizeFor(int configuredBytes, int vcpus) => Math.Max(configuredBytes, FixedBytes + (vcpus * RegisterBytesPerVCpu) + sizeof(ulong));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public byte[] Encode()
    {
        var blob = new byte[TotalBytes];
        var s = blob.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(s, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(s[8..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(s[12..], VCpuCount);
        BinaryPrimitives.WriteInt64LittleEndian(s[16..], PageCount);
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], Seed);
        s[32] = (byte)Content.ZeroPercent;
        s[33] = (byte)Content.CompressiblePercent;
        s[34] = (byte)Content.IncompressiblePercent;
        BinaryPrimitives.WriteInt32LittleEndian(s[36..], TotalBytes);
        BinaryPrimitives.WriteInt64LittleEndian(s[40..], PassCounter);
        BinaryPrimitives.WriteUInt64LittleEndian(s[48..], GenerationSum);
        BinaryPrimitives.WriteUInt64LittleEndian(s[56..], GenerationDigest);
        BinaryPrimitives.WriteInt64LittleEndian(s[64..], Sessions.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(s[72..], Sessions.Hash);
        FillDerived(s[FixedBytes..^sizeof(ulong)], Seed, PassCounter);
        BinaryPrimitives.WriteUInt64LittleEndian(s[^sizeof(ulong)..], XxHash3.HashToUInt64(s[..^sizeof(ulong)]));
        return blob;
    }

    /// <summary>Decodes and checks a blob (checksum, registers derived from the pass counter).</summary>
    public static SimulatedDeviceState Decode(ReadOnlySpan<byte> blob)
    {
        if (blob.Length < FixedBytes + sizeof(ulong))
            throw new FrameFormatException($"Device state of {blob.Length} bytes is too short.");
        if (BinaryPrimitives.ReadUInt64LittleEndian(blob) != Magic || BinaryPrimitives.ReadInt32LittleEndian(blob[8..]) != Version)
            throw new FrameFormatException("Device state has a bad magic or version.");
        if (BinaryPrimitives.ReadUInt64LittleEndian(blob[^sizeof(ulong)..]) != XxHash3.HashToUInt64(blob[..^sizeof(ulong)]))
            throw new FrameFormatException("Device state checksum mismatch.");
        var total = BinaryPrimitives.ReadInt32LittleEndian(blob[36..]);
        var vcpus = BinaryPrimitives.ReadInt32LittleEndian(blob[12..]);
        if (total != blob.Length || vcpus is < 1 or > 256 || SizeFor(total, vcpus) != total)
            throw new FrameFormatException($"Device state says {total} bytes and {vcpus} vCPUs for a {blob.Length}-byte blob.");
        var content = new ContentMix(blob[32], blob[33], blob[34]);
        try
        {
            content.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new FrameFormatException($"Device state carries an invalid content mix: {ex.Message}", ex);
        }

        var state = new SimulatedDeviceState(
            vcpus,
            BinaryPrimitives.ReadInt64LittleEndian(blob[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(blob[24..]),
            content,
            BinaryPrimitives.ReadInt64LittleEndian(blob[40..]),
            BinaryPrimitives.ReadUInt64LittleEndian(blob[48..]),
            BinaryPrimitives.ReadUInt64LittleEndian(blob[56..]),
            new SessionTableDigest(BinaryPrimitives.ReadInt64LittleEndian(blob[64..]), BinaryPrimitives.ReadUInt64LittleEndian(blob[72..])),
            total);
        var expected = new byte[total - FixedBytes - sizeof(ulong)];
        FillDerived(expected, state.Seed, state.PassCounter);
        if (!blob[FixedBytes..^sizeof(ulong)].SequenceEqual(expected))
            throw new FrameFormatException("Device registers do not derive from the pause-time pass counter.");
        return state;
    }

    /// <summary>
    /// Register and device-model bytes: a function of the seed and the pass counter at pause. Like real
    /// register files and device models most words are zero or small, so the blob compresses (about 4×).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FillDerived(Span<byte> target, ulong seed, long passCounter)
    {
        var epoch = (uint)passCounter ^ (uint)(passCounter >> 32);
        for (var i = 0; i + sizeof(ulong) <= target.Length; i += sizeof(ulong))
        {
            var slot = (uint)(i / sizeof(ulong));
            var value = (slot & 7) switch
            {
                0 => PageContent.Hash(seed ^ 0xDE71_CE5, slot, epoch),
                1 => PageContent.Hash(seed ^ 0xDE71_CE5, slot, epoch) & 0xFFFF,
                2 => slot,
                _ => 0UL,
            };
            BinaryPrimitives.WriteUInt64LittleEndian(target[i..], value);
        }

        for (var i = target.Length & ~7; i < target.Length; i++)
            target[i] = (byte)i;
    }
}
