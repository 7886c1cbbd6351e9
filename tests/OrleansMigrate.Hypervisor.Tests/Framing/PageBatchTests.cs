using OrleansMigrate.Hypervisor.Framing;
using OrleansMigrate.Hypervisor.Sessions;

namespace OrleansMigrate.Hypervisor.Tests.Framing;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class PageBatchTests
{
    private const int PageSize = PageBatchFormat.PageSize;

    [Fact]
    public void BatchRoundTripsPagesAndSendsZeroPagesAsMarkersOnly()
    {
        var pages = new byte[4][];
        for (var i = 0; i < pages.Length; i++)
        {
            pages[i] = new byte[PageSize];
            if (i != 2)
                new Random(i).NextBytes(pages[i]);
        }

        var payload = new byte[PageBatchFormat.MaxRawLength(4)];
        var builder = new PageBatchBuilder(payload, new uint[4]);
        uint[] indices = [10, 11, 999, 5];
        for (var i = 0; i < pages.Length; i++)
            builder.Add(indices[i], pages[i]);
        var length = builder.Finish();

        Assert.Equal(1, builder.ZeroPages);
        Assert.Equal(PageBatchFormat.RawLength(4, 3), length);

        var reader = new PageBatchReader(payload.AsSpan(0, length), 4, pageCount: 1000);
        var seen = 0;
        while (reader.MoveNext(out var index, out var body))
        {
            Assert.Equal(indices[seen], index);
            if (seen == 2)
                Assert.True(body.IsEmpty);
            else
                Assert.Equal(pages[seen], body.ToArray());
            seen++;
        }

        Assert.Equal(4, seen);
    }

    [Fact]
    public void BatchNamingAPageBeyondTheGuestIsRejected()
    {
        var payload = new byte[PageBatchFormat.MaxRawLength(1)];
        var builder = new PageBatchBuilder(payload, new uint[1]);
        builder.Add(64, new byte[PageSize]);
        var length = builder.Finish();

        var ex = Assert.Throws<FrameFormatException>(() => new PageBatchReader(payload.AsSpan(0, length), 1, pageCount: 64));
        Assert.Contains("beyond", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BatchWhoseCountDisagreesWithTheHeaderIsRejected()
    {
        var payload = new byte[PageBatchFormat.MaxRawLength(1)];
        var builder = new PageBatchBuilder(payload, new uint[1]);
        builder.Add(1, new byte[PageSize]);
        var length = builder.Finish();

        Assert.Throws<FrameFormatException>(() => new PageBatchReader(payload.AsSpan(0, length), 2, pageCount: 64));
    }

    [Fact]
    public void SessionRecordsRoundTripAndUnknownOpsAreRejected()
    {
        var upsert = new SessionDeltaRecord(new FlowKey(0x0A000001, 0xC0A80001, 40000, 443, 6), false, new SessionEntry(SessionState.Established, 12, 3400, 987654321));
        var delete = new SessionDeltaRecord(new FlowKey(1, 2, 3, 4, 17), true, default);
        var buffer = new byte[SessionDeltaCodec.RecordSize];

        SessionDeltaCodec.Write(buffer, upsert);
        Assert.Equal(upsert, SessionDeltaCodec.Read(buffer));
        SessionDeltaCodec.Write(buffer, delete);
        Assert.Equal(delete, SessionDeltaCodec.Read(buffer));

        buffer[0] = 9;
        Assert.Throws<FrameFormatException>(() => SessionDeltaCodec.Read(buffer));
    }
}
