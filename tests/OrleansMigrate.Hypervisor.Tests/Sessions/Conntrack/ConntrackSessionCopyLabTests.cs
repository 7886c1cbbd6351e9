using System.Globalization;
using System.Net;
using OrleansMigrate.Hypervisor.Sessions;
using OrleansMigrate.Hypervisor.Sessions.Conntrack;

namespace OrleansMigrate.Hypervisor.Tests.Sessions.Conntrack;

/// <summary>The sender/receiver pair the host agents use: a full first round, rounds of changes, the final delta; the
/// destination's conntrack read back against the source's.</summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class ConntrackSessionCopyLabTests : IDisposable
{
    private const string Vm = "172.30.0.10";
    private readonly OmcLab _lab = new();

    public void Dispose() => _lab.Dispose();

    [Fact]
    public void Rounds_carry_the_full_table_then_changes_and_the_destination_ends_equal()
    {
        var src = _lab.Namespace("cs", eventsOn: true);
        var dst = _lab.Namespace("cd");
        for (var port = 6000; port < 6050; port++)
            Insert(src, port);

        using var sender = new ConntrackSessionSender(src, IPAddress.Parse(Vm));
        using var receiver = new ConntrackSessionReceiver(dst);
        sender.Start();
        receiver.Start();

        var first = sender.NextRound()!;
        Assert.Equal((1, 50), (first.Round, first.Entries));
        var applied = receiver.Apply(first);
        Assert.Equal((50, 0), (applied.Written, applied.Failed));

        // Changes while "pre-copy" runs: 5 new, 5 deleted.
        for (var port = 6050; port < 6055; port++)
            Insert(src, port);
        for (var port = 6000; port < 6005; port++)
            OmcLab.In(src, "conntrack", "-D", "-s", Vm, "-p", "udp", "--sport", port.ToString(CultureInfo.InvariantCulture));
        var second = sender.NextRound(evenIfEmpty: false)!;
        Assert.Equal(10, second.Entries);
        var appliedSecond = receiver.Apply(second);
        Assert.Equal((5, 5, 0), (appliedSecond.Written, appliedSecond.Deleted, appliedSecond.Failed));
        Assert.Equal(0, receiver.Apply(second).Written); // resent: not applied twice

        // Nothing changed: no round is taken unless asked for; the final delta is (empty, it still advances).
        Assert.Null(sender.NextRound(evenIfEmpty: false));
        var final = sender.NextRound()!;
        Assert.Equal((3, 0), (final.Round, final.Entries));
        Assert.Equal(3, receiver.Apply(final).Round);
        Assert.Equal(3, receiver.LastRound);

        var comparison = ConntrackSessionMap.Compare(SourceEntries(src), receiver.ReadBack(IPAddress.Parse(Vm)));
        Assert.True(comparison.Consistent, $"missing {comparison.Missing.Count}, extra {comparison.Extra.Count}, different {comparison.Different.Count}");
        Assert.Equal(50, receiver.ReadBack(IPAddress.Parse(Vm)).Count);

        // The migration did not happen: what was copied leaves the destination's conntrack again.
        Assert.Equal(50, receiver.RemoveAll().Deleted);
        Assert.Empty(receiver.ReadBack(IPAddress.Parse(Vm)));
    }

    [Fact]
    public void A_round_the_kernel_refused_part_of_is_not_taken_as_applied_and_is_applied_again_when_resent()
    {
        var dst = _lab.Namespace("cf");
        using var receiver = new ConntrackSessionReceiver(dst);
        receiver.Start();

        // A session without conntrack detail (the simulated guest's kind) cannot be written to a real table: refused.
        var records = new byte[SessionDeltaCodec.RecordSize];
        SessionDeltaCodec.Write(records, new SessionDeltaRecord(new FlowKey(0x0A01_0005, 0xAC1E_000A, 40000, 7008, 6), Deleted: false,
            new SessionEntry(SessionState.Established, 1, 60, 0)));
        var round = new SessionRound(1, 1, records, 0);

        var first = receiver.Apply(round);
        Assert.Equal(1, first.Failed);
        Assert.NotNull(first.FirstFailure);
        Assert.Equal(0, receiver.LastRound);
        Assert.Equal(1, receiver.Apply(round).Failed);
    }

    [Fact]
    public void A_skipped_round_or_a_malformed_one_is_refused_and_changes_nothing()
    {
        var dst = _lab.Namespace("cr");
        using var receiver = new ConntrackSessionReceiver(dst);
        receiver.Start();

        Assert.Throws<InvalidOperationException>(() => receiver.Apply(new SessionRound(2, 0, [], 0)));
        Assert.Throws<InvalidDataException>(() => receiver.Apply(new SessionRound(1, 1, new byte[SessionDeltaCodec.RecordSize - 1], 0)));
        var garbage = new byte[SessionDeltaCodec.RecordSize];
        garbage[0] = 9;
        Assert.Throws<InvalidDataException>(() => receiver.Apply(new SessionRound(1, 1, garbage, 0)));
        Assert.Equal(0, receiver.LastRound);
        Assert.Empty(receiver.ReadBack(IPAddress.Parse(Vm)));
    }

    private static List<ConntrackEntry> SourceEntries(string ns)
    {
        using var client = ConntrackClient.Open(ns);
        var vm = ConntrackAddress.Parse(Vm);
        return client.Dump(e => e.Involves(vm) && ConntrackSessionMap.Check(e) == ConntrackSkipReason.None);
    }

    private static void Insert(string ns, int sport) =>
        OmcLab.In(ns, "conntrack", "-I", "-s", Vm, "-d", "10.1.0.5", "-p", "udp", "--sport", sport.ToString(CultureInfo.InvariantCulture),
            "--dport", "7007", "-t", "120");
}
