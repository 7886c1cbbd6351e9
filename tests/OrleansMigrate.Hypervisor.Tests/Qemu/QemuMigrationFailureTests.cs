using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Tests.Shared;
using static OrleansMigrate.Hypervisor.Tests.Qemu.QemuTestGuest;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

/// <summary>Every way a QEMU migration ends before the commit point: the guest must keep running on the source (or be reported lost).</summary>
[Collection("qemu")]
[Trait(TestCategory.Trait, TestCategory.Qemu)]
public sealed class QemuMigrationFailureTests(QemuEnvironment env) : IDisposable
{
    public void Dispose() => env.EndTest();

    [Fact]
    public async Task Cancel_during_pre_copy_keeps_the_guest_running_on_the_source_and_the_destination_qemu_exits()
    {
        const string Id = "vm-cancel";
        await using var source = new QemuHypervisorDriver("src", env.Options());
        await using var destination = new QemuHypervisorDriver("dst", env.Options());
        var (incoming, outgoing) = await StartNonConvergingAsync(source, destination, Id);
        var destinationPid = destination.ProcessId(Id);
        Assert.NotNull(destinationPid);

        await outgoing.CancelAsync("test cancels").WaitAsync(Bound);

        var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.PreSwitchover.WaitAsync(Bound));
        Assert.Equal(MigrationFailureKind.Cancelled, failure.Kind);
        Assert.Equal(OutgoingMigrationState.Cancelled, outgoing.State);
        Assert.Equal(VmState.Running, (await source.GetVmAsync(Id)).State);
        Assert.Equal("running", System.Text.Json.Nodes.JsonNode.Parse(await source.PassthroughAsync(Id, """{"execute":"query-status"}"""))!["return"]!["status"]!.GetValue<string>());

        // The destination QEMU sees the stream end, fails the incoming migration and exits by itself.
        await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.Received.WaitAsync(Bound));
        Assert.Equal(IncomingMigrationState.Failed, incoming.State);
        await Eventually.TrueAsync(() => destination.ProcessId(Id) is null, TimeSpan.FromSeconds(20), "the destination QEMU exits");
        await incoming.AbortAsync("rolled back").WaitAsync(Bound);
        await destination.DestroyVmAsync(Id).WaitAsync(Bound);
        Assert.Empty(await destination.ListVmsAsync());
        await Eventually.TrueAsync(() => ProcessGone(destinationPid.Value), TimeSpan.FromSeconds(10), "the destination QEMU process is gone");

        await AssertAdvancesConsistentlyAsync(source, Id);

        // Idempotent, and the source stays put.
        await outgoing.CancelAsync("again").WaitAsync(Bound);
        Assert.Equal(VmState.Running, (await source.GetVmAsync(Id)).State);
    }

    [Fact]
    public async Task Destination_qemu_killed_during_pre_copy_fails_the_migration_and_the_guest_keeps_running_on_the_source()
    {
        const string Id = "vm-dstkill";
        await using var source = new QemuHypervisorDriver("src", env.Options());
        await using var destination = new QemuHypervisorDriver("dst", env.Options());
        var (incoming, outgoing) = await StartNonConvergingAsync(source, destination, Id);

        Assert.True(destination.KillQemu(Id));

        var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.PreSwitchover.WaitAsync(Bound));
        Assert.NotEqual(MigrationFailureKind.Cancelled, failure.Kind);
        await Eventually.TrueAsync(() => outgoing.State == OutgoingMigrationState.Failed, TimeSpan.FromSeconds(10), "the outgoing migration fails");
        await Eventually.TrueAsync(async () => (await source.GetVmAsync(Id)).State == VmState.Running, TimeSpan.FromSeconds(10), "the source VM runs");
        Assert.False((await source.GetVmAsync(Id)).HasActiveMigration);

        var lost = await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.Received.WaitAsync(Bound));
        Assert.Contains("exited", lost.Message, StringComparison.Ordinal);
        Assert.Equal(VmState.Failed, (await destination.GetVmAsync(Id)).State);
        await destination.DestroyVmAsync(Id).WaitAsync(Bound);

        await AssertAdvancesConsistentlyAsync(source, Id);
    }

    [Fact]
    public async Task Source_qemu_killed_during_pre_copy_reports_the_vm_lost_and_the_destination_tears_down()
    {
        const string Id = "vm-srckill";
        await using var source = new QemuHypervisorDriver("src", env.Options());
        await using var destination = new QemuHypervisorDriver("dst", env.Options());
        var (incoming, outgoing) = await StartNonConvergingAsync(source, destination, Id);

        Assert.True(source.KillQemu(Id));

        var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.PreSwitchover.WaitAsync(Bound));
        Assert.Contains("lost", failure.Message, StringComparison.Ordinal);
        Assert.Contains("restart", failure.Message, StringComparison.Ordinal);
        Assert.Equal(OutgoingMigrationState.Failed, outgoing.State);
        var info = await source.GetVmAsync(Id);
        Assert.Equal(VmState.Lost, info.State);
        Assert.NotNull(info.Detail);
        Assert.Contains("exited with code", info.Detail, StringComparison.Ordinal);
        Assert.Null(source.ProcessId(Id));
        await Assert.ThrowsAsync<InvalidOperationException>(() => source.CheckDirtyGuestAsync(Id));

        await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.Received.WaitAsync(Bound));
        await incoming.AbortAsync("source lost").WaitAsync(Bound);
        await destination.DestroyVmAsync(Id).WaitAsync(Bound);
        Assert.Empty(await destination.ListVmsAsync());
        await source.DestroyVmAsync(Id).WaitAsync(Bound);
        Assert.Empty(await source.ListVmsAsync());
    }

    [Fact]
    public async Task Cancel_after_the_final_copy_before_the_destination_resumed_runs_the_guest_again_on_the_source()
    {
        const string Id = "vm-rollback";
        await using var source = new QemuHypervisorDriver("src", env.Options());
        await using var destination = new QemuHypervisorDriver("dst", env.Options());
        await source.CreateVmAsync(env.Spec(Id));
        await source.StartVmAsync(Id);
        await WaitForPassesAsync(source, Id, 1);
        await destination.CreateVmAsync(env.Spec(Id));
        var incoming = await destination.PrepareIncomingAsync(Id, new IncomingMigrationOptions());
        var outgoing = await source.StartOutgoingAsync(Id, incoming.Endpoint, Converging);

        await outgoing.PreSwitchover.WaitAsync(Bound);
        Assert.Equal(VmState.Paused, (await source.GetVmAsync(Id)).State);
        await outgoing.FinalCopyAsync().WaitAsync(Bound);
        Assert.Equal(OutgoingMigrationState.AwaitingCommit, outgoing.State);
        await incoming.Received.WaitAsync(Bound);
        Assert.Equal(IncomingMigrationState.ReadyToResume, incoming.State);
        Assert.Contains("\"postmigrate\"", await source.PassthroughAsync(Id, """{"execute":"query-status"}"""), StringComparison.Ordinal);

        // The paused source still holds the guest as it was sent.
        var atPause = await source.CheckDirtyGuestAsync(Id).WaitAsync(Bound);
        Assert.NotNull(atPause);
        Assert.True(atPause.Value.Report.Consistent, atPause.Value.Report.Summary);

        await incoming.AbortAsync("rolled back").WaitAsync(Bound);
        await outgoing.CancelAsync("rolled back").WaitAsync(Bound);

        Assert.Equal(OutgoingMigrationState.Cancelled, outgoing.State);
        await Assert.ThrowsAsync<InvalidOperationException>(() => incoming.ResumeAsync());
        Assert.Equal(VmState.Running, (await source.GetVmAsync(Id)).State);
        Assert.Equal("running", System.Text.Json.Nodes.JsonNode.Parse(await source.PassthroughAsync(Id, """{"execute":"query-status"}"""))!["return"]!["status"]!.GetValue<string>());
        var after = await AssertAdvancesConsistentlyAsync(source, Id, atPause.Value.Header.Position);
        Assert.True(after.Position > atPause.Value.Header.Position, "the guest advances from where it was paused");
        await destination.DestroyVmAsync(Id).WaitAsync(Bound);
    }

    [Fact]
    public async Task Cancel_after_the_final_copy_while_the_destination_still_waits_runs_the_guest_again_on_the_source()
    {
        const string Id = "vm-rollback2";
        await using var source = new QemuHypervisorDriver("src", env.Options());
        await using var destination = new QemuHypervisorDriver("dst", env.Options());
        await source.CreateVmAsync(env.Spec(Id));
        await source.StartVmAsync(Id);
        await WaitForPassesAsync(source, Id, 1);
        await destination.CreateVmAsync(env.Spec(Id));
        var incoming = await destination.PrepareIncomingAsync(Id, new IncomingMigrationOptions());
        var outgoing = await source.StartOutgoingAsync(Id, incoming.Endpoint, Converging);
        await outgoing.PreSwitchover.WaitAsync(Bound);
        await outgoing.FinalCopyAsync().WaitAsync(Bound);
        await incoming.Received.WaitAsync(Bound);

        // The source rolls back first (the orchestrator lost the destination, say); the destination is torn down after.
        await outgoing.CancelAsync("rolled back").WaitAsync(Bound);
        Assert.Equal(VmState.Running, (await source.GetVmAsync(Id)).State);
        await AssertAdvancesConsistentlyAsync(source, Id);
        await incoming.AbortAsync("rolled back").WaitAsync(Bound);
        await destination.DestroyVmAsync(Id).WaitAsync(Bound);
    }

    private async Task<(IIncomingMigration Incoming, IOutgoingMigration Outgoing)> StartNonConvergingAsync(QemuHypervisorDriver source, QemuHypervisorDriver destination, string id)
    {
        var (incoming, outgoing) = await StartPreCopyAsync(env, source, destination, id, NonConverging);
        await Eventually.TrueAsync(() => incoming.State == IncomingMigrationState.Receiving, TimeSpan.FromSeconds(10), "the incoming migration receives");
        Assert.True((await source.GetVmAsync(id)).HasActiveMigration);
        return (incoming, outgoing);
    }
}
