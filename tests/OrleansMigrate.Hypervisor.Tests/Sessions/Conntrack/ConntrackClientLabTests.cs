using System.Net;
using OrleansMigrate.Hypervisor.Sessions.Conntrack;

namespace OrleansMigrate.Hypervisor.Tests.Sessions.Conntrack;

/// <summary>The ctnetlink client against the kernel, with the <c>conntrack</c> CLI as the independent oracle.</summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class ConntrackClientLabTests : IDisposable
{
    private const string Vm = "172.30.0.10";
    private readonly OmcLab _lab = new();

    public void Dispose() => _lab.Dispose();

    [Fact]
    public void Entries_made_by_the_cli_are_read_with_every_field()
    {
        var ns = _lab.Namespace("rt");
        OmcLab.In(ns, "conntrack", "-I", "-s", Vm, "-d", "10.1.0.5", "-p", "tcp", "--sport", "40000", "--dport", "7008",
            "--state", "ESTABLISHED", "-u", "ASSURED,SEEN_REPLY", "-t", "300", "--mark", "7");
        OmcLab.In(ns, "conntrack", "-I", "-s", Vm, "-d", "10.1.0.5", "-p", "udp", "--sport", "5000", "--dport", "7007", "-t", "60");
        OmcLab.In(ns, "conntrack", "-I", "-s", Vm, "-d", "10.1.0.5", "-p", "icmp", "--icmp-type", "8", "--icmp-code", "0", "--icmp-id", "77", "-t", "30");
        OmcLab.In(ns, "conntrack", "-I", "-s", "10.9.9.9", "-d", "10.1.0.5", "-p", "udp", "--sport", "1", "--dport", "2", "-t", "60");

        using var client = ConntrackClient.Open(ns);
        var all = client.Dump();
        Assert.Equal(4, all.Count);
        var mine = client.DumpInvolving(ConntrackAddress.Parse(Vm));
        Assert.Equal(3, mine.Count);

        var tcp = Assert.Single(mine, e => e.Original.Protocol == ConntrackTuple.Tcp);
        Assert.Equal(ConntrackTuple.Ports(ConntrackTuple.Tcp, Vm, 40000, "10.1.0.5", 7008), tcp.Original);
        Assert.Equal(tcp.Original.Inverse(), tcp.Reply);
        Assert.Equal(7u, tcp.Mark);
        Assert.InRange(tcp.TimeoutSeconds, 290u, 300u);
        Assert.Equal(ConntrackEntry.StatusAssured | ConntrackEntry.StatusSeenReply, tcp.Status & ConntrackEntry.SettableStatus);
        Assert.Equal(ConntrackTcpInfo.Established, tcp.Tcp!.Value.State);

        var udp = Assert.Single(mine, e => e.Original.Protocol == ConntrackTuple.Udp);
        Assert.Equal((ushort)5000, udp.Original.SourcePort);
        Assert.Null(udp.Tcp);
        Assert.Equal(0u, udp.Status & ConntrackEntry.StatusSeenReply);

        var icmp = Assert.Single(mine, e => e.Original.Protocol == ConntrackTuple.Icmp);
        Assert.Equal((ushort)77, icmp.Original.IcmpId);
        Assert.Equal((byte)8, icmp.Original.IcmpType);
        Assert.Equal((byte)0, icmp.Reply.IcmpType);
    }

    [Fact]
    public void Entries_written_by_the_client_are_listed_by_the_cli_and_failures_are_reported_per_entry()
    {
        var ns = _lab.Namespace("wr");
        var vm = ConntrackAddress.Parse(Vm);
        var peer = ConntrackAddress.Parse("10.1.0.6");
        var tcpTuple = new ConntrackTuple(vm, peer, ConntrackTuple.Tcp, 40001, 7008);
        var tcp = new ConntrackEntry(tcpTuple, tcpTuple.Inverse()!.Value, ConntrackEntry.StatusAssured | ConntrackEntry.StatusSeenReply, 600, Mark: 9,
            Tcp: new ConntrackTcpInfo(ConntrackTcpInfo.Established, 7, 7, 0x03, 0x03));
        var udpTuple = new ConntrackTuple(vm, peer, ConntrackTuple.Udp, 5001, 7007);
        var udp = new ConntrackEntry(udpTuple, udpTuple.Inverse()!.Value, ConntrackEntry.StatusSeenReply, 120);
        var icmpTuple = new ConntrackTuple(vm, peer, ConntrackTuple.Icmp, IcmpId: 99, IcmpType: 8, IcmpCode: 0);
        var icmp = new ConntrackEntry(icmpTuple, icmpTuple.Inverse()!.Value, 0, 30);

        using var client = ConntrackClient.Open(ns);
        var result = client.Write([tcp, udp, icmp]);
        Assert.True(result.AllSucceeded, string.Join("; ", result.Failures));
        Assert.Equal(3, result.Succeeded);

        var listed = OmcLab.In(ns, "conntrack", "-L");
        Assert.Contains("tcp", listed);
        Assert.Matches(@"ESTABLISHED src=172\.30\.0\.10 dst=10\.1\.0\.6 sport=40001 dport=7008 src=10\.1\.0\.6 dst=172\.30\.0\.10 sport=7008 dport=40001 \[ASSURED\] mark=9", listed);
        Assert.Matches(@"udp .* src=172\.30\.0\.10 dst=10\.1\.0\.6 sport=5001 dport=7007 src=10\.1\.0\.6 dst=172\.30\.0\.10 sport=7007 dport=5001 mark=0", listed);
        Assert.Matches(@"icmp .* src=172\.30\.0\.10 dst=10\.1\.0\.6 type=8 code=0 id=99 \[UNREPLIED\]", listed);

        // An update (not exclusive) changes the mark; an exclusive create of an existing entry fails with EEXIST, for
        // that entry only.
        var fresh = udp with { Original = udpTuple with { SourcePort = 5002 }, Reply = udpTuple.Inverse()!.Value with { DestinationPort = 5002 } };
        var mixed = client.Write([fresh, tcp with { Mark = 11 }], exclusive: true);
        Assert.Equal(1, mixed.Succeeded);
        var failure = Assert.Single(mixed.Failures);
        Assert.Equal(1, failure.Index);
        Assert.Equal(ConntrackEntryFailure.Exists, failure.Errno);
        Assert.Throws<ConntrackException>(() => mixed.ThrowIfFailed("write"));
        Assert.True(client.Write([tcp with { Mark = 11 }]).AllSucceeded);
        Assert.Contains("mark=11", OmcLab.In(ns, "conntrack", "-L", "-p", "tcp"));

        // A TCP state the kernel does not know is refused (EINVAL) for that entry alone; the good one in the same
        // batch is written.
        var badTuple = tcpTuple with { SourcePort = 40002 };
        var bad = tcp with { Original = badTuple, Reply = badTuple.Inverse()!.Value, Tcp = tcp.Tcp!.Value with { State = 200 } };
        var goodTuple = tcpTuple with { SourcePort = 40003 };
        var good = tcp with { Original = goodTuple, Reply = goodTuple.Inverse()!.Value };
        var refused = client.Write([bad, good]);
        var refusal = Assert.Single(refused.Failures);
        Assert.Equal(0, refusal.Index);
        Assert.True(refusal.Errno > 0, refusal.ToString());
        Assert.Equal(1, refused.Succeeded);

        var deleted = client.Delete([tcpTuple, udpTuple, icmpTuple, fresh.Original, goodTuple, tcpTuple]);
        Assert.Equal(5, deleted.Succeeded);
        Assert.Equal(ConntrackEntryFailure.NotFound, Assert.Single(deleted.Failures).Errno);
        Assert.DoesNotContain("172.30.0.10", OmcLab.In(ns, "conntrack", "-L"));
        Assert.Empty(client.DumpInvolving(vm));
    }

    [Fact]
    public void Get_reads_named_entries_and_missing_ones_are_null()
    {
        var ns = _lab.Namespace("get");
        OmcLab.In(ns, "conntrack", "-I", "-s", Vm, "-d", "10.1.0.5", "-p", "udp", "--sport", "5000", "--dport", "7007", "-t", "60", "--mark", "3");
        using var client = ConntrackClient.Open(ns);
        var present = ConntrackTuple.Ports(ConntrackTuple.Udp, Vm, 5000, "10.1.0.5", 7007);
        var absent = present with { SourcePort = 5001 };
        var got = client.Get([present, absent]);
        Assert.Equal(3u, got[0]!.Mark);
        Assert.Null(got[1]);
    }

    [Fact]
    public void A_missing_namespace_gives_a_clear_error()
    {
        var ex = Assert.Throws<ConntrackException>(() => ConntrackClient.Open("omc-none"));
        Assert.Contains("omc-none", ex.Message);
        var check = Assert.Throws<ConntrackException>(() => OrleansMigrate.Hypervisor.Sessions.SessionsBackendOptions.CheckConntrackAvailable("omc-none"));
        Assert.Contains("Cloud:Sessions:Backend=conntrack", check.Message);
        OrleansMigrate.Hypervisor.Sessions.SessionsBackendOptions.CheckConntrackAvailable(_lab.Namespace("ok"));
        _ = IPAddress.Loopback;
    }
}
