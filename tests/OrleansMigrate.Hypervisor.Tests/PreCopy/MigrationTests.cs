using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;
using OrleansMigrate.Hypervisor.Tests.Support;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.PreCopy;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class MigrationTests
{
    [Theory]
    [InlineData(CompressionMode.None)]
    [InlineData(CompressionMode.All)]
    [InlineData(CompressionMode.Final)]
    public async Task DirtyingGuestMigratesAndPassesTheDestinationsConsistencyCheck(CompressionMode mode)
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec($"vm-{mode}", 32, dirtyMBps: 40);
        var source = await hosts.BootAsync(spec);

        var report = await LiveMigration.RunAsync(hosts.Source, hosts.Destination, spec.VmId, new MigrationOptions { Compression = mode });

        Assert.NotNull(report.Consistency);
        Assert.True(report.Consistency.Consistent, report.Consistency.Summary);
        Assert.Equal(VmState.PostMigrate, source.State);
        Assert.Equal(VmState.Running, hosts.Destination.GetSimulatedVm(spec.VmId).State);
        Assert.True(report.Downtime.TotalMs > 0);
        Assert.Equal(report.Source.PagesSent, report.Destination.PagesApplied);
        switch (mode)
        {
            case CompressionMode.None:
                Assert.Equal(0, report.Source.CompressedRawBytes);
                break;
            case CompressionMode.All:
                Assert.True(report.Source.CompressedRawBytes > report.Downtime.FinalRawBytes, "the bulk round is compressed too");
                break;
            case CompressionMode.Final:
                Assert.True(report.Source.CompressedRawBytes <= report.Downtime.FinalRawBytes, "only the final copy is compressed");
                break;
        }
    }

    [Fact]
    public async Task MigratedGuestKeepsRunningItsWorkloadOnTheDestination()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-continues", 16, dirtyMBps: 20);
        await hosts.BootAsync(spec);

        await LiveMigration.RunAsync(hosts.Source, hosts.Destination, spec.VmId, new MigrationOptions());

        var moved = hosts.Destination.GetSimulatedVm(spec.VmId);
        var writes = moved.PageWrites;
        await Eventually.TrueAsync(() => moved.PageWrites > writes + 50, TimeSpan.FromSeconds(30), "the guest keeps dirtying memory");
        Assert.True(moved.Verify().Consistent);
    }

    [Fact]
    public async Task MostlyZeroGuestSendsFarLessThanItsSize()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-zero", 64, content: new ContentMix(90, 5, 5));
        await hosts.BootAsync(spec);

        var report = await LiveMigration.RunAsync(hosts.Source, hosts.Destination, spec.VmId, new MigrationOptions { Compression = CompressionMode.None });

        var guestBytes = 64L << 20;
        Assert.True(report.Source.BytesSent < guestBytes / 5, $"sent {report.Source.BytesSent} bytes for a {guestBytes}-byte guest");
        Assert.True(report.Source.ZeroPagesSent >= 0.85 * (guestBytes / 4096));
        Assert.True(report.Consistency!.Consistent, report.Consistency.Summary);
    }

    [Fact]
    public async Task SessionTablesAreEqualAtSwitchover()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-sessions", 16, dirtyMBps: 10, sessions: new SessionChurnOptions { InitialSessions = 2000, ChurnPerSecond = 20_000 });
        var source = await hosts.BootAsync(spec);
        var incoming = await hosts.PrepareDestinationAsync(spec);
        var outgoing = await hosts.Source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, Guests.SlowLink());

        await outgoing.PreSwitchover;
        var final = await outgoing.FinalCopyAsync();
        await incoming.Received;

        var destination = hosts.Destination.GetSimulatedVm(spec.VmId);
        Assert.True(source.Sessions.ContentEquals(destination.Sessions));
        Assert.Equal(source.Sessions.ComputeDigest(), destination.Sessions.ComputeDigest());
        Assert.True(outgoing.GetRounds()[0].SessionEntries >= 2000, "the first round carries the whole table");
        Assert.True(final.SessionDeltaEntries >= 0);

        await incoming.ResumeAsync();
        await outgoing.CompleteAsync();
        Assert.True((await incoming.Consistency)!.SessionTableMatches);
    }

    [Fact]
    public async Task RequestedSwitchoverStopsANonConvergingPreCopy()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-requested", 16, workload: new GuestWorkloadOptions { DirtyMegabytesPerSecond = 100, Pattern = DirtyPattern.HotSet, HotSetMiB = 8 });
        await hosts.BootAsync(spec);
        var incoming = await hosts.PrepareDestinationAsync(spec);
        // A target no round can meet: only the orchestrator's request ends pre-copy.
        var options = Guests.SlowLink() with { DowntimeTargetMs = 0.1, MaxRounds = 100_000 };
        var outgoing = await hosts.Source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, options);
        await Eventually.TrueAsync(() => outgoing.GetProgress().Round >= 3, TimeSpan.FromSeconds(10), "pre-copy reaches round 3");

        outgoing.RequestSwitchover(skipPreLastCopy: true);

        var paused = await outgoing.PreSwitchover.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(SwitchoverReason.Requested, paused.Reason);
        Assert.Equal(PreLastCopyVerdict.Skipped, outgoing.GetPreLastCopyDecisions()[^1].Verdict);
        await outgoing.FinalCopyAsync();
        await incoming.Received;
        await incoming.ResumeAsync();
        await outgoing.CompleteAsync();
        Assert.True((await incoming.Consistency)!.Consistent);
    }

    [Fact]
    public async Task PreSwitchoverPausesTheSourceUntilTheOrchestratorRunsTheFinalCopy()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-pause", 16, dirtyMBps: 30);
        var source = await hosts.BootAsync(spec);
        var incoming = await hosts.PrepareDestinationAsync(spec);
        var outgoing = await hosts.Source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, new MigrationOptions());

        var paused = await outgoing.PreSwitchover;
        var writes = source.PageWrites;
        await Task.Delay(50); // a fixed delay on purpose: time passes and the paused guest must write nothing

        Assert.Equal(VmState.Paused, source.State);
        Assert.Equal(OutgoingMigrationState.PreSwitchover, outgoing.State);
        Assert.Equal(writes, source.PageWrites);
        Assert.Equal(IncomingMigrationState.Receiving, incoming.State);
        Assert.True(paused.PausedTimestamp >= paused.PauseRequestedTimestamp);

        await outgoing.FinalCopyAsync();
        await incoming.Received;
        Assert.Equal(OutgoingMigrationState.AwaitingCommit, outgoing.State);
        await incoming.ResumeAsync();
        await outgoing.CompleteAsync();
        Assert.Equal(VmState.PostMigrate, source.State);
        Assert.True((await incoming.Consistency)!.Consistent);
    }
}
