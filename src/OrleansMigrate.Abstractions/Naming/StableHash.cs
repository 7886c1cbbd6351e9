namespace OrleansMigrate.Naming;

/// <summary>
/// 32-bit FNV-1a over a string's UTF-16 chars: the same in every process and run, unlike
/// <see cref="string.GetHashCode()"/>. Stored rows (VM index shards and their rows, VPC flow shards) depend on it, so it
/// never changes.
/// </summary>
public static class StableHash
{
    public const uint OffsetBasis = 2166136261u;

    private const uint Prime = 16777619u;

    /// <summary>FNV-1a of <paramref name="text"/>, continuing from <paramref name="hash"/> (a salt or another string's hash).</summary>
    public static uint Fnv1a(string text, uint hash = OffsetBasis)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var c in text)
        {
            hash = (hash ^ c) * Prime;
        }

        return hash;
    }

    /// <summary>A shard of <paramref name="count"/> by <paramref name="key"/>'s hash with its high half folded in: the
    /// low bits of an FNV product depend only on the low bits of the input, so folding lets every bit of every char
    /// choose the shard.</summary>
    public static int Shard(string key, int count)
    {
        var hash = Fnv1a(key);
        return (int)(((hash >> 16) ^ hash) % (uint)count);
    }
}
