using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;
using OrleansMigrate.Hypervisor.Tests.Support;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.PreCopy;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class FailureTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static async Task AssertStillRunningAndIntactAsync(SimulatedVm vm)
    {
        Assert.Equal(VmState.Running, vm.State);
        var writes = vm.PageWrites;
        await Eventually.TrueAsync(() => vm.PageWrites > writes + 50, Patience, "the guest keeps dirtying memory");
        var report = vm.Verify();
        Assert.True(report.Consistent, report.Summary);
    }

    [Fact]
    public async Task CancelMidCopyLeavesTheSourceRunningAndUnchanged()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-cancel", 64, dirtyMBps: 20);
        var source = await hosts.BootAsync(spec);
        var incoming = await hosts.PrepareDestinationAsync(spec);
        var outgoing = await hosts.Source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, Guests.SlowLink());
        await Eventually.TrueAsync(() => outgoing.GetProgress().BytesSent > 4 << 20, Patience, "pre-copy sends more than 4 MiB");

        await outgoing.CancelAsync("operator changed their mind");

        Assert.Equal(OutgoingMigrationState.Cancelled, outgoing.State);
        var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.PreSwitchover);
        Assert.Equal(MigrationFailureKind.Cancelled, failure.Kind);
        await AssertStillRunningAndIntactAsync(source);
        var destination = await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.Received.WaitAsync(Patience));
        Assert.Equal(MigrationFailureKind.SourceAborted, destination.Kind);
        Assert.Equal(VmState.Failed, hosts.Destination.GetSimulatedVm(spec.VmId).State);
    }

    [Fact]
    public async Task DestinationDyingMidCopyLeavesTheSourceRunning()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-dest-dies", 64, dirtyMBps: 20);
        var source = await hosts.BootAsync(spec);
        KillableStream? connection = null;
        var incoming = await hosts.PrepareDestinationAsync(spec, new IncomingMigrationOptions
        {
            TransportWrapper = stream => connection = new KillableStream(stream),
        });
        var outgoing = await hosts.Source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, Guests.SlowLink());
        await Eventually.TrueAsync(() => outgoing.GetProgress().BytesSent > 4 << 20, Patience, "pre-copy sends more than 4 MiB");

        connection!.Kill();

        var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.PreSwitchover.WaitAsync(Patience));
        Assert.Equal(MigrationFailureKind.Transport, failure.Kind);
        Assert.Equal(OutgoingMigrationState.Failed, outgoing.State);
        await AssertStillRunningAndIntactAsync(source);
        await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.Received.WaitAsync(Patience));
    }

    [Fact]
    public async Task DestinationDisposedMidCopyLeavesTheSourceRunning()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-dest-disposed", 64, dirtyMBps: 20);
        var source = await hosts.BootAsync(spec);
        var incoming = await hosts.PrepareDestinationAsync(spec);
        var outgoing = await hosts.Source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, Guests.SlowLink());
        await Eventually.TrueAsync(() => outgoing.GetProgress().BytesSent > 4 << 20, Patience, "pre-copy sends more than 4 MiB");

        await incoming.DisposeAsync();

        var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.PreSwitchover.WaitAsync(Patience));
        Assert.Equal(MigrationFailureKind.DestinationFailed, failure.Kind);
        await AssertStillRunningAndIntactAsync(source);
        Assert.Equal(VmState.Failed, hosts.Destination.GetSimulatedVm(spec.VmId).State);
    }

    [Fact]
    public async Task CorruptedFrameIsCaughtByItsChecksumAndTheSourceKeepsRunning()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-corrupt", 32, dirtyMBps: 20);
        var source = await hosts.BootAsync(spec);
        var incoming = await hosts.PrepareDestinationAsync(spec);
        var options = new MigrationOptions { TransportWrapper = stream => new CorruptingStream(stream, flipAtOffset: 300_000) };

        var outgoing = await hosts.Source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, options);

        var destination = await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.Received.WaitAsync(Patience));
        Assert.Equal(MigrationFailureKind.Corruption, destination.Kind);
        var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.PreSwitchover.WaitAsync(Patience));
        Assert.Equal(MigrationFailureKind.Corruption, failure.Kind);
        await AssertStillRunningAndIntactAsync(source);
        Assert.Equal(VmState.Failed, hosts.Destination.GetSimulatedVm(spec.VmId).State);
    }

    [Fact]
    public async Task RollbackAfterTheFinalCopyResumesTheSourceAndTheDestinationCannotResume()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-late-rollback", 16, dirtyMBps: 20);
        var source = await hosts.BootAsync(spec);
        var incoming = await hosts.PrepareDestinationAsync(spec);
        var outgoing = await hosts.Source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, new MigrationOptions());
        await outgoing.PreSwitchover;
        await outgoing.FinalCopyAsync();
        await incoming.Received;

        // The orchestrator's cloud action failed inside the downtime: roll back before the commit point.
        await outgoing.CancelAsync("disk hand-over failed");

        Assert.Equal(OutgoingMigrationState.Cancelled, outgoing.State);
        await AssertStillRunningAndIntactAsync(source);
        await Eventually.TrueAsync(() => incoming.State == IncomingMigrationState.Failed, Patience, "the destination tears down on the source's abort");
        await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.ResumeAsync());
    }

    [Fact]
    public async Task DestinationOfAnotherSizeRefusesTheStreamAndTheSourceKeepsRunning()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-mismatch", 32, dirtyMBps: 20);
        var source = await hosts.BootAsync(spec);
        var incoming = await hosts.PrepareDestinationAsync(spec with { MemoryMiB = 16 });

        var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => hosts.Source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, new MigrationOptions()));

        Assert.Equal(MigrationFailureKind.Rejected, failure.Kind);
        await AssertStillRunningAndIntactAsync(source);
        Assert.Equal(MigrationFailureKind.Rejected, (await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.Received.WaitAsync(Patience))).Kind);
    }

    [Fact]
    public async Task RoundLimitWithFailActionFailsTheMigrationAndTheSourceKeepsRunning()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-no-converge", 16, workload: new GuestWorkloadOptions { DirtyMegabytesPerSecond = 100, Pattern = DirtyPattern.HotSet, HotSetMiB = 8 });
        var source = await hosts.BootAsync(spec);
        var incoming = await hosts.PrepareDestinationAsync(spec);
        var options = Guests.SlowLink() with { DowntimeTargetMs = 0.1, MaxRounds = 3, LimitAction = PreCopyLimitAction.Fail };

        var outgoing = await hosts.Source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, options);

        var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.PreSwitchover.WaitAsync(Patience));
        Assert.Equal(MigrationFailureKind.DidNotConverge, failure.Kind);
        Assert.Equal(3, outgoing.GetRounds().Count);
        await AssertStillRunningAndIntactAsync(source);
    }

    [Fact]
    public async Task FailedLiveMigrationRunLeavesNoVmOnTheDestination()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-run-fails", 16, dirtyMBps: 20);
        var source = await hosts.BootAsync(spec);
        var options = new MigrationOptions { TransportWrapper = stream => new CorruptingStream(stream, flipAtOffset: 200_000) };

        await Assert.ThrowsAsync<MigrationFailedException>(() => LiveMigration.RunAsync(hosts.Source, hosts.Destination, spec.VmId, options));

        Assert.Empty(await hosts.Destination.ListVmsAsync());
        await AssertStillRunningAndIntactAsync(source);
    }
}
