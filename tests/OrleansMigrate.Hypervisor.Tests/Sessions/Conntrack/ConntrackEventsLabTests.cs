using System.Net;
using OrleansMigrate.Hypervisor.Sessions;
using OrleansMigrate.Hypervisor.Sessions.Conntrack;

namespace OrleansMigrate.Hypervisor.Tests.Sessions.Conntrack;

/// <summary>The event stream as the dirty log: changes after the first read arrive as deltas; an overrun is reported
/// and answered with a full re-read.</summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class ConntrackEventsLabTests : IDisposable
{
    private const string Vm = "172.30.0.10";
    private readonly OmcLab _lab = new();

    public void Dispose() => _lab.Dispose();

    [Fact]
    public void Changes_after_the_snapshot_arrive_as_deltas_through_the_session_rounds()
    {
        var src = _lab.Namespace("es", eventsOn: true);
        var dst = _lab.Namespace("ed");
        Insert(src, 5000, "60", "1");
        OmcLab.In(src, "conntrack", "-I", "-s", "10.9.9.9", "-d", "10.1.0.5", "-p", "udp", "--sport", "1", "--dport", "2", "-t", "60");

        var sourceTable = new SessionTable();
        using var source = new ConntrackSessionSource(src, IPAddress.Parse(Vm), sourceTable);
        source.Start();
        Assert.True(source.EventsComplete);
        Assert.Equal(1, sourceTable.Count);
        sourceTable.StartTracking();

        var destinationTable = new SessionTable();
        using var sink = new ConntrackSessionSink(dst, destinationTable);
        sink.Start();

        // Round 1: the whole table.
        Assert.Equal(1, Ship(sourceTable, destinationTable));
        Assert.True(sink.Flush().AllSucceeded);
        AssertSame(source, sink);

        // Changes after the snapshot: a new entry, a mark change, a deletion; plus noise of another address.
        Insert(src, 5001, "60", "2");
        OmcLab.In(src, "conntrack", "-U", "-s", Vm, "-p", "udp", "--sport", "5000", "--mark", "5");
        OmcLab.In(src, "conntrack", "-I", "-s", "10.9.9.8", "-d", "10.1.0.5", "-p", "udp", "--sport", "1", "--dport", "2", "-t", "60");
        Assert.Equal(2, source.Sync());
        Assert.Equal(2, Ship(sourceTable, destinationTable));
        var flushed = sink.Flush();
        Assert.Equal(2, flushed.Written);
        AssertSame(source, sink);
        Assert.Contains("mark=5", OmcLab.In(dst, "conntrack", "-L", "-p", "udp", "--sport", "5000"));

        OmcLab.In(src, "conntrack", "-D", "-s", Vm, "-p", "udp", "--sport", "5001");
        Assert.Equal(1, source.Sync());
        Assert.Equal(1, Ship(sourceTable, destinationTable));
        Assert.Equal(1, sink.Flush().Deleted);
        AssertSame(source, sink);
        Assert.Equal(0, source.Sync());
        Assert.Equal(1, source.Statistics.FullReads);

        // The check can fail: a change on the source not yet shipped shows as a difference.
        Insert(src, 5002, "60", "3");
        var stale = ConntrackSessionMap.Compare(source.ReadBack(), sink.ReadBack(IPAddress.Parse(Vm)));
        Assert.False(stale.Consistent);
        Assert.Single(stale.Missing);
    }

    [Fact]
    public void An_overrun_is_reported_and_the_source_reads_the_whole_table_again()
    {
        var ns = _lab.Namespace("ov", eventsOn: true);
        using var stream = ConntrackEventStream.Open(ns, receiveBufferBytes: 4096);
        var table = new SessionTable();
        using var source = new ConntrackSessionSource(ns, IPAddress.Parse(Vm), table, eventBufferBytes: 4096);
        source.Start();

        using var client = ConntrackClient.Open(ns);
        var vm = ConntrackAddress.Parse(Vm);
        var entries = Enumerable.Range(0, 2000).Select(i =>
        {
            var t = new ConntrackTuple(vm, ConntrackAddress.Parse("10.1.0.5"), ConntrackTuple.Udp, (ushort)(10000 + i), 7007);
            return new ConntrackEntry(t, t.Inverse()!.Value, 0, 120);
        }).ToList();
        Assert.True(client.Write(entries).AllSucceeded);

        var batch = stream.Read(TimeSpan.FromSeconds(1));
        Assert.True(batch.Overrun, $"no overrun after {batch.Seen} events");
        Assert.True(batch.Seen < 2000);

        source.Sync();
        Assert.Equal(1, source.Statistics.Overruns);
        Assert.Equal(2, source.Statistics.FullReads);
        Assert.Equal(2000, table.Count);
    }

    [Fact]
    public void Without_complete_events_every_sync_reads_the_whole_table_and_still_sees_old_entries_change()
    {
        // nf_conntrack_events stays at the kernel default (2): an entry made before the subscription sends no events.
        var ns = _lab.Namespace("ni");
        Insert(ns, 5000, "60", "1");
        var table = new SessionTable();
        using var source = new ConntrackSessionSource(ns, IPAddress.Parse(Vm), table);
        source.Start();
        Assert.False(source.EventsComplete);
        OmcLab.In(ns, "conntrack", "-U", "-s", Vm, "-p", "udp", "--sport", "5000", "--mark", "4");
        Assert.Equal(1, source.Sync());
        Assert.Equal(4u, Assert.Single(table.Snapshot().Values).Conntrack!.Value.Mark);
        OmcLab.In(ns, "conntrack", "-D", "-s", Vm, "-p", "udp", "--sport", "5000");
        Assert.Equal(1, source.Sync());
        Assert.Equal(0, table.Count);
        Assert.Equal(3, source.Statistics.FullReads);
    }

    [Fact]
    public void The_sink_reports_each_entry_it_could_not_write()
    {
        var ns = _lab.Namespace("sf");
        var table = new SessionTable();
        using var sink = new ConntrackSessionSink(ns, table);
        sink.Start();
        var vm = ConntrackAddress.Parse(Vm);
        var good = new ConntrackTuple(vm, ConntrackAddress.Parse("10.1.0.5"), ConntrackTuple.Tcp, 40000, 7008);
        var (goodKey, goodSession) = ConntrackSessionMap.ToSession(new ConntrackEntry(good, good.Inverse()!.Value, ConntrackEntry.StatusAssured | ConntrackEntry.StatusSeenReply, 300,
            Tcp: new ConntrackTcpInfo(ConntrackTcpInfo.Established, 0, 0, 0, 0)));
        var (badKey, badSession) = ConntrackSessionMap.ToSession(new ConntrackEntry(good with { SourcePort = 40001 }, (good with { SourcePort = 40001 }).Inverse()!.Value, 0, 300,
            Tcp: new ConntrackTcpInfo(200, 0, 0, 0, 0)));
        table.Apply(new SessionDeltaRecord(goodKey, false, goodSession));
        table.Apply(new SessionDeltaRecord(badKey, false, badSession));
        table.Apply(new SessionDeltaRecord(new FlowKey(vm, 1, 2, 3, ConntrackTuple.Udp), false, new SessionEntry(SessionState.New, 1, 60, 0)));
        var result = sink.Flush();
        Assert.Equal(1, result.Written);
        Assert.Equal(2, result.Failures.Count);
        Assert.Contains(result.Failures, f => f.Original.SourcePort == 40001);
        Assert.Contains(result.Failures, f => f.Message.Contains("simulated", StringComparison.Ordinal));
        Assert.Throws<ConntrackException>(result.ThrowIfFailed);
        Assert.Contains("sport=40000", OmcLab.In(ns, "conntrack", "-L"));
    }

    private static void Insert(string ns, int sport, string timeout, string mark) =>
        OmcLab.In(ns, "conntrack", "-I", "-s", Vm, "-d", "10.1.0.5", "-p", "udp", "--sport", sport.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--dport", "7007", "-t", timeout, "--mark", mark);

    /// <summary>One session round as the data plane does it: harvest, encode each record, decode, apply.</summary>
    internal static int Ship(SessionTable source, SessionTable destination, Func<SessionDeltaRecord, bool>? keep = null)
    {
        var records = new List<SessionDeltaRecord>();
        source.HarvestDelta(records);
        var wire = new byte[SessionDeltaCodec.RecordSize];
        var shipped = 0;
        foreach (var record in records)
        {
            if (keep is not null && !keep(record))
                continue;
            SessionDeltaCodec.Write(wire, record);
            destination.Apply(SessionDeltaCodec.Read(wire));
            shipped++;
        }

        return shipped;
    }

    private static void AssertSame(ConntrackSessionSource source, ConntrackSessionSink sink)
    {
        var comparison = ConntrackSessionMap.Compare(source.ReadBack(), sink.ReadBack(IPAddress.Parse(Vm)));
        Assert.True(comparison.Consistent, $"missing {comparison.Missing.Count}, extra {comparison.Extra.Count}, different {comparison.Different.Count}");
    }
}
