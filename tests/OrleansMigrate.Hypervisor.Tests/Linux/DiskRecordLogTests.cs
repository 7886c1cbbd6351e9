using OrleansMigrate.Hypervisor.Linux.Guest;
using OrleansMigrate.Testing;

namespace OrleansMigrate.Hypervisor.Tests.Linux;

/// <summary>The disk record checks on synthetic images: each fault is found and named, a clean log passes.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DiskRecordLogTests
{
    private const ulong Boot = 0x1122334455667788;

    private static MemoryStream Image(int sectors, Action<byte[]>? edit = null, int records = 0)
    {
        var bytes = new byte[sectors * DiskRecordLog.RecordSize];
        DiskRecordLog.EncodeHeader(Boot).CopyTo(bytes, 0);
        for (var seq = 0; seq < records; seq++)
            Put(bytes, seq + 1, DiskRecordLog.Encode((ulong)seq, Boot, (ulong)seq * 20_000_000));
        edit?.Invoke(bytes);
        return new MemoryStream(bytes);
    }

    private static void Put(byte[] image, int sector, byte[] record) => record.CopyTo(image, sector * DiskRecordLog.RecordSize);

    [Fact]
    public void A_contiguous_log_up_to_the_durable_seq_is_consistent()
    {
        var check = DiskRecordLog.Check(Image(64, records: 20), durableSeq: 19);
        Assert.True(check.Consistent, check.ToString());
        Assert.Equal(20, check.Records.Count);
        Assert.Equal(19UL, check.HighestSeq);
        Assert.All(check.Records, r => Assert.Equal(Boot, r.BootId));

        // Records past the durable seq (written, not yet reported) are fine too.
        Assert.True(DiskRecordLog.Check(Image(64, records: 20), durableSeq: 15).Consistent);
        Assert.True(DiskRecordLog.Check(Image(64), durableSeq: null).Consistent);
    }

    [Fact]
    public void Records_up_to_the_durable_seq_missing_from_the_disk_are_lost()
    {
        var check = DiskRecordLog.Check(Image(64, records: 10), durableSeq: 14);
        Assert.False(check.Consistent);
        Assert.Equal(5, check.LostCount);
        Assert.Equal([10UL, 11, 12, 13, 14], check.Lost);

        // A hole in the middle is lost and a gap.
        var hole = DiskRecordLog.Check(Image(64, b => Array.Clear(b, 4 * 512, 512), records: 10), durableSeq: 9);
        Assert.Equal([3UL], hole.Lost);
        Assert.Equal([(2UL, 4UL)], hole.Gaps);
        Assert.False(hole.Consistent);
    }

    [Fact]
    public void A_seq_written_twice_is_duplicated_and_misplaced()
    {
        // Seq 3 again at sector 8 (where seq 7 belongs): a restarted writer that did not continue after its records.
        var check = DiskRecordLog.Check(Image(64, b => Put(b, 8, DiskRecordLog.Encode(3, Boot + 1, 1)), records: 10), durableSeq: 9);
        Assert.False(check.Consistent);
        Assert.Equal([3UL], check.Duplicated);
        Assert.Equal([8L], check.Misplaced);
        Assert.Contains((6UL, 3UL), check.Gaps);
        Assert.Equal([7UL], check.Lost);
    }

    [Fact]
    public void A_record_with_a_bad_crc_is_a_crc_failure_and_not_counted()
    {
        var check = DiskRecordLog.Check(Image(64, b => b[5 * 512 + 100] ^= 0x40, records: 10), durableSeq: 9);
        Assert.False(check.Consistent);
        Assert.Equal([5L], check.CrcFailures);
        Assert.Equal([4UL], check.Lost);
        Assert.Equal(9, check.Records.Count);
    }

    [Fact]
    public void An_image_without_the_header_is_not_consistent_and_a_bad_durable_seq_is_refused()
    {
        var check = DiskRecordLog.Check(Image(8, b => Array.Clear(b, 0, 512), records: 3), durableSeq: 2);
        Assert.False(check.HasHeader);
        Assert.False(check.Consistent);
        Assert.Throws<ArgumentOutOfRangeException>(() => DiskRecordLog.Check(Image(8), durableSeq: ulong.MaxValue - 1));
    }

    [Fact]
    public void The_trailer_reads_all_ones_as_no_durable_seq()
    {
        var reply = new byte[8 + GuestTrailer.Size];
        Array.Fill(reply, (byte)0xFF, 8, 8);
        reply[^1] = 7;
        Assert.True(GuestTrailer.TryRead(reply, out var trailer));
        Assert.Null(trailer.DurableSeq);
        Assert.Equal(7UL, trailer.GuestNanoseconds);
        Assert.False(GuestTrailer.TryRead(new byte[10], out _));
    }
}
