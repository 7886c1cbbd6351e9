using System.Buffers.Binary;
using System.IO.Hashing;

namespace OrleansMigrate.Hypervisor.Linux.Guest;

/// <summary>One disk record the lab guest's agent wrote (guest/linux/agent.c).</summary>
/// <param name="Sector">The sector it was read from.</param>
/// <param name="Seq">Its sequence number (the agent writes seq at sector 1+seq).</param>
/// <param name="BootId">The agent run that wrote it.</param>
/// <param name="GuestNanoseconds">The guest's monotonic clock when it was written.</param>
public sealed record DiskRecord(long Sector, ulong Seq, ulong BootId, ulong GuestNanoseconds);

/// <summary>What a disk image holds against what the guest reported durable.</summary>
/// <param name="HasHeader">Sector 0 holds the agent's header.</param>
/// <param name="Records">Every record with the magic and a valid CRC, in sector order.</param>
/// <param name="CrcFailures">Sectors with the record magic whose CRC does not match.</param>
/// <param name="Misplaced">Valid records at a sector other than 1+seq.</param>
/// <param name="Duplicated">Seqs found more than once.</param>
/// <param name="Lost">Seqs from 0 to the durable seq missing from the disk (at most 1,000 listed).</param>
/// <param name="LostCount">How many seqs from 0 to the durable seq are missing.</param>
/// <param name="Gaps">Places where a record follows one whose seq is not its predecessor, as (previous, next).</param>
/// <param name="HighestSeq">The highest valid seq on the disk; null when none.</param>
/// <param name="DurableSeq">The durable seq checked against; null when none was reported.</param>
public sealed record DiskRecordCheck(
    bool HasHeader,
    IReadOnlyList<DiskRecord> Records,
    IReadOnlyList<long> CrcFailures,
    IReadOnlyList<long> Misplaced,
    IReadOnlyList<ulong> Duplicated,
    IReadOnlyList<ulong> Lost,
    long LostCount,
    IReadOnlyList<(ulong Previous, ulong Next)> Gaps,
    ulong? HighestSeq,
    ulong? DurableSeq)
{
    /// <summary>Every record up to the durable seq is there once, in place, with a valid CRC; nothing duplicated or broken.</summary>
    public bool Consistent => HasHeader && CrcFailures.Count == 0 && Misplaced.Count == 0 && Duplicated.Count == 0 && LostCount == 0 && Gaps.Count == 0;

    /// <summary>The findings in one line, for test output and logs.</summary>
    public override string ToString() =>
        $"header={HasHeader} records={Records.Count} highest={HighestSeq?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} durable={DurableSeq?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} "
        + $"lost={LostCount} duplicated={Duplicated.Count} misplaced={Misplaced.Count} crc-failures={CrcFailures.Count} gaps={Gaps.Count}";
}

/// <summary>
/// Reads the lab guest's disk records (guest/linux/agent.c) from a raw image and checks them: sector 0 is the header
/// (<c>OMIGHDR1</c>); the record of seq sits at sector 1+seq: <c>OMIGREC1</c>, u64 BE seq, u64 BE boot id, u64 BE
/// guest ns, zeros, u32 BE CRC32 (IEEE) of bytes 0..507 at 508. A sector without the magic is empty.
/// </summary>
public static class DiskRecordLog
{
    /// <summary>Bytes per record (one sector).</summary>
    public const int RecordSize = 512;

    /// <summary>The header's magic in sector 0.</summary>
    public static ReadOnlySpan<byte> HeaderMagic => "OMIGHDR1"u8;

    /// <summary>A record's magic.</summary>
    public static ReadOnlySpan<byte> RecordMagic => "OMIGREC1"u8;

    /// <summary>The most sectors read from one image (64 GiB); a larger image is refused.</summary>
    public const long MaxSectors = 1L << 27;

    /// <summary>Reads the image at <paramref name="path"/> and checks it against <paramref name="durableSeq"/>.</summary>
    public static DiskRecordCheck Check(string path, ulong? durableSeq)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        return Check(stream, durableSeq);
    }

    /// <summary>Reads <paramref name="image"/> from its current position to its end and checks it against
    /// <paramref name="durableSeq"/> (the last seq the guest reported written and flushed; null for none).</summary>
    public static DiskRecordCheck Check(Stream image, ulong? durableSeq)
    {
        ArgumentNullException.ThrowIfNull(image);
        var records = new List<DiskRecord>();
        var crcFailures = new List<long>();
        var misplaced = new List<long>();
        var hasHeader = false;
        var sector = new byte[RecordSize];
        for (long index = 0; ; index++)
        {
            if (index >= MaxSectors)
                throw new ArgumentException($"image is larger than {MaxSectors} sectors: not read.", nameof(image));
            var read = image.ReadAtLeast(sector, RecordSize, throwOnEndOfStream: false);
            if (read < RecordSize)
                break;
            if (index == 0)
            {
                hasHeader = sector.AsSpan(0, 8).SequenceEqual(HeaderMagic);
                continue;
            }

            if (!sector.AsSpan(0, 8).SequenceEqual(RecordMagic))
                continue;
            var crc = BinaryPrimitives.ReadUInt32BigEndian(sector.AsSpan(508));
            if (crc != Crc32.HashToUInt32(sector.AsSpan(0, 508)))
            {
                crcFailures.Add(index);
                continue;
            }

            var record = new DiskRecord(index, BinaryPrimitives.ReadUInt64BigEndian(sector.AsSpan(8)),
                BinaryPrimitives.ReadUInt64BigEndian(sector.AsSpan(16)), BinaryPrimitives.ReadUInt64BigEndian(sector.AsSpan(24)));
            if (record.Seq + 1 != (ulong)index)
                misplaced.Add(index);
            records.Add(record);
        }

        return Evaluate(hasHeader, records, crcFailures, misplaced, durableSeq);
    }

    /// <summary>Makes the bytes of one record (what the agent writes), for tests and tools.</summary>
    public static byte[] Encode(ulong seq, ulong bootId, ulong guestNanoseconds)
    {
        var bytes = new byte[RecordSize];
        RecordMagic.CopyTo(bytes);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(8), seq);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(16), bootId);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(24), guestNanoseconds);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(508), Crc32.HashToUInt32(bytes.AsSpan(0, 508)));
        return bytes;
    }

    /// <summary>Makes the header sector the agent writes on a blank disk.</summary>
    public static byte[] EncodeHeader(ulong bootId)
    {
        var bytes = new byte[RecordSize];
        HeaderMagic.CopyTo(bytes);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(8), 1);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(16), RecordSize);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(24), bootId);
        return bytes;
    }

    private static DiskRecordCheck Evaluate(bool hasHeader, List<DiskRecord> records, List<long> crcFailures, List<long> misplaced, ulong? durableSeq)
    {
        const int MaxListed = 1000;
        var counts = new Dictionary<ulong, int>();
        foreach (var r in records)
            counts[r.Seq] = counts.GetValueOrDefault(r.Seq) + 1;
        var duplicated = counts.Where(kv => kv.Value > 1).Select(kv => kv.Key).Order().ToList();

        var gaps = new List<(ulong, ulong)>();
        for (var i = 1; i < records.Count; i++)
        {
            if (records[i].Seq != records[i - 1].Seq + 1 && gaps.Count < MaxListed)
                gaps.Add((records[i - 1].Seq, records[i].Seq));
        }

        var lost = new List<ulong>();
        long lostCount = 0;
        if (durableSeq is { } durable)
        {
            if (durable >= (ulong)MaxSectors)
                throw new ArgumentOutOfRangeException(nameof(durableSeq), durable, $"a durable seq must be below {MaxSectors}.");
            for (ulong seq = 0; seq <= durable; seq++)
            {
                if (counts.ContainsKey(seq))
                    continue;
                lostCount++;
                if (lost.Count < MaxListed)
                    lost.Add(seq);
            }
        }

        ulong? highest = records.Count == 0 ? null : records.Max(r => r.Seq);
        return new DiskRecordCheck(hasHeader, records, crcFailures, misplaced, duplicated, lost, lostCount, gaps, highest, durableSeq);
    }
}
