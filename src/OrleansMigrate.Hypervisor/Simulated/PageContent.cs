using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// Page content as a pure function of (seed, page index, generation, class), so any page can be checked on
/// its own: a 16-byte stamp <c>[u32 index][u32 generation][u64 key ^ magic]</c> followed by a body derived
/// from the key. A zero-class page at generation 0 is all zeros (no stamp). A torn or mixed page fails the
/// body check, a page copied to the wrong index fails the index check, a stale page passes both but carries
/// an old generation (caught against the generation vector).
/// </summary>
internal static class PageContent
{
    public const int StampSize = 16;

    private const ulong Magic = 0x4547_4150_4749_4D4F; // "OMIGPAGE"

    /// <summary>Class of a page, fixed for the guest's life.</summary>
    public static PageClass ClassOf(int index, ContentMix mix, ulong seed)
    {
        var bucket = (int)(Hash(seed ^ 0xC1A5_5E5, (uint)index, 0) % 100);
        if (bucket < mix.ZeroPercent)
            return PageClass.Zero;
        return bucket < mix.ZeroPercent + mix.CompressiblePercent ? PageClass.Compressible : PageClass.Incompressible;
    }

    /// <summary>Writes the content of page <paramref name="index"/> at <paramref name="generation"/>.</summary>
    public static void Fill(Span<byte> page, int index, uint generation, PageClass pageClass, ulong seed)
    {
        if (pageClass == PageClass.Zero && generation == 0)
        {
            page.Clear();
            return;
        }

        var key = Hash(seed, (uint)index, generation);
        BinaryPrimitives.WriteUInt32LittleEndian(page, (uint)index);
        BinaryPrimitives.WriteUInt32LittleEndian(page[4..], generation);
        BinaryPrimitives.WriteUInt64LittleEndian(page[8..], key ^ Magic);
        var body = MemoryMarshal.Cast<byte, ulong>(page[StampSize..]);
        switch (pageClass)
        {
            case PageClass.Zero:
                body.Clear();
                break;
            case PageClass.Compressible:
                FillCompressible(body, key);
                break;
            default:
                FillRandom(body, key);
                break;
        }
    }

    /// <summary>
    /// Checks that a page is exactly what its stamp says and that the stamp names <paramref name="index"/>.
    /// <paramref name="generation"/> is the stamped generation (0 for an all-zero page).
    /// </summary>
    public static PageProblemCheck Check(ReadOnlySpan<byte> page, int index, PageClass pageClass, ulong seed, Span<byte> scratch, out uint generation)
    {
        generation = 0;
        if (!page.ContainsAnyExcept((byte)0))
            return pageClass == PageClass.Zero ? PageProblemCheck.Ok : PageProblemCheck.Corrupt;
        var stampedIndex = BinaryPrimitives.ReadUInt32LittleEndian(page);
        generation = BinaryPrimitives.ReadUInt32LittleEndian(page[4..]);
        var check = BinaryPrimitives.ReadUInt64LittleEndian(page[8..]);
        if (stampedIndex > int.MaxValue || check != (Hash(seed, stampedIndex, generation) ^ Magic))
            return PageProblemCheck.Corrupt;
        Fill(scratch, (int)stampedIndex, generation, pageClass, seed);
        if (!page.SequenceEqual(scratch))
            return PageProblemCheck.Corrupt;
        return stampedIndex == (uint)index ? PageProblemCheck.Ok : PageProblemCheck.Misplaced;
    }

    /// <summary>SplitMix64-style mix of the three inputs.</summary>
    public static ulong Hash(ulong seed, uint index, uint generation)
    {
        var z = seed + (index * 0x9E37_79B9_7F4A_7C15UL) + (generation * 0xD1B5_4A32_D192_ED03UL) + 0x632B_E59B_D9B4_E019UL;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return z ^ (z >> 31);
    }

    private static void FillRandom(Span<ulong> body, ulong key)
    {
        var x = key | 1;
        for (var i = 0; i < body.Length; i++)
        {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            body[i] = x * 0x2545_F491_4F6C_DD1DUL;
        }
    }

    // Blocks of 8 words: 2 random, 6 from a per-page template. LZ4 keeps the 16 random bytes as literals and
    // matches the 48 template bytes against the previous block: about 20 bytes out per 64 in (≈3.2×).
    private static void FillCompressible(Span<ulong> body, ulong key)
    {
        Span<ulong> template = stackalloc ulong[6];
        var x = key | 1;
        for (var i = 0; i < template.Length; i++)
            template[i] = Next(ref x);
        for (var i = 0; i < body.Length; i++)
        {
            var lane = i & 7;
            body[i] = lane < 2 ? Next(ref x) : template[lane - 2];
        }
    }

    private static ulong Next(ref ulong x)
    {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        return x * 0x2545_F491_4F6C_DD1DUL;
    }
}
