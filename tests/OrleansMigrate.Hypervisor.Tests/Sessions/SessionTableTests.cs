using OrleansMigrate.Hypervisor.Sessions;

namespace OrleansMigrate.Hypervisor.Tests.Sessions;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class SessionTableTests
{
    private static FlowKey Key(int i) => new((uint)(0x0A000000 + i), 0xC0A80001, (ushort)(1024 + i), 443, 6);

    private static void Copy(SessionTable from, SessionTable to)
    {
        var delta = new List<SessionDeltaRecord>();
        from.HarvestDelta(delta);
        foreach (var record in delta)
            to.Apply(record);
    }

    [Fact]
    public void IterativeDeltasIncludingDeletionsMakeTheReplicaEqual()
    {
        var source = new SessionTable();
        var replica = new SessionTable();
        for (var i = 0; i < 100; i++)
            source.Upsert(Key(i), new SessionEntry(SessionState.New, 1, 60, i));

        source.StartTracking();
        Copy(source, replica);
        Assert.True(source.ContentEquals(replica));

        // Churn between rounds: updates, expiries, new flows, and a flow that comes and goes in one round.
        source.Upsert(Key(5), new SessionEntry(SessionState.Established, 9, 900, 500));
        source.Remove(Key(6));
        source.Upsert(Key(200), new SessionEntry(SessionState.New, 1, 60, 501));
        source.Upsert(Key(201), new SessionEntry(SessionState.New, 1, 60, 502));
        source.Remove(Key(201));
        Assert.Equal(4, source.PendingChanges);

        Copy(source, replica);

        Assert.True(source.ContentEquals(replica));
        Assert.Equal(source.ComputeDigest(), replica.ComputeDigest());
        Assert.False(replica.TryGet(Key(6), out _));
        Assert.Equal(0, source.PendingChanges);
    }

    [Fact]
    public void DigestIsOrderIndependentButSeesEveryCounter()
    {
        var a = new SessionTable();
        var b = new SessionTable();
        a.Upsert(Key(1), new SessionEntry(SessionState.New, 1, 60, 1));
        a.Upsert(Key(2), new SessionEntry(SessionState.New, 1, 60, 2));
        b.Upsert(Key(2), new SessionEntry(SessionState.New, 1, 60, 2));
        b.Upsert(Key(1), new SessionEntry(SessionState.New, 1, 60, 1));
        Assert.Equal(a.ComputeDigest(), b.ComputeDigest());

        b.Upsert(Key(1), new SessionEntry(SessionState.New, 2, 60, 1));
        Assert.NotEqual(a.ComputeDigest(), b.ComputeDigest());
        Assert.False(a.ContentEquals(b));
    }
}
