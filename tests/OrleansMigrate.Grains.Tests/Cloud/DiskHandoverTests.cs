using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Faults;

namespace OrleansMigrate.Tests.Cloud;

/// <summary>The hand-over rules alone, and what only the simulated block store does (adopting a disk, reporting fault
/// steps, running without fencing), without a cluster. What every block store must do is <see cref="DiskBackendContract"/>.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DiskHandoverTests
{
    [Fact]
    public void Every_rule_asked_for_the_state_already_held_is_no_action()
    {
        var promoted = DiskHandover.PromoteReadWrite(
            DiskHandover.Pause(DiskHandover.OpenReadOnly(NewRecord("d-1", "h-1"), "h-2").After, "h-1").After, "h-2").After;

        Assert.Equal(DiskBackendAction.None, DiskHandover.OpenReadOnly(promoted, "h-1").Action);
        Assert.Equal(DiskBackendAction.None, DiskHandover.Pause(promoted, "h-1").Action);
        Assert.Equal(DiskBackendAction.None, DiskHandover.PromoteReadWrite(promoted, "h-2").Action);
        Assert.Equal(DiskBackendAction.None, DiskHandover.Close(promoted, "h-3").Action);
        Assert.Equal(DiskBackendAction.None, DiskHandover.RestoreWriter(promoted, "h-2").Action);
    }

    [Fact]
    public async Task The_store_adopts_a_disk_it_has_never_seen_and_hands_it_over()
    {
        var store = new SimulatedCloudDiskBackend(ZeroLatency(), NoFaults.Instance, TimeProvider.System);

        await store.OpenReadOnlyAsync("d-elsewhere", "h-2");
        await store.PauseAsync("d-elsewhere", "h-1");
        await store.ReopenReadWriteAsync("d-elsewhere", "h-2", 5);

        Assert.True(store.CanWrite("d-elsewhere", "h-2"));
        Assert.False(store.CanWrite("d-elsewhere", "h-1"));

        // Once the store has seen a host act on the disk, it checks that host strictly.
        await store.CloseAsync("d-elsewhere", "h-1");
        await Assert.ThrowsAsync<OmigException>(() => store.PauseAsync("d-elsewhere", "h-1"));
    }

    [Fact]
    public async Task A_store_action_reports_its_step_before_acting_and_an_injected_fault_changes_nothing()
    {
        var faults = new ScriptedFaults();
        var store = new SimulatedCloudDiskBackend(ZeroLatency(), faults, TimeProvider.System);
        await store.CreateAsync("d-1", "h-1");
        faults.FailNext(FaultSteps.DiskPause);

        await Assert.ThrowsAsync<InjectedFaultException>(() => store.PauseAsync("d-1", "h-1"));

        Assert.True(store.CanWrite("d-1", "h-1"));
        Assert.Equal(new[] { CloudFaultSteps.DiskCreate, FaultSteps.DiskPause }, faults.Seen);
    }

    [Fact]
    public async Task A_store_without_fencing_refuses_a_second_writer_at_a_newer_generation()
    {
        var options = ZeroLatency();
        options.DiskFencing = false;
        var store = new SimulatedCloudDiskBackend(options, NoFaults.Instance, TimeProvider.System);
        await store.CreateAsync("d-1", "h-1");

        var refused = await Assert.ThrowsAsync<OmigException>(() => store.ReopenReadWriteAsync("d-1", "h-2", 2));

        Assert.Equal((OmigErrorCode.Conflict, "disk"), (refused.Code, refused.Field));
        Assert.Equal((true, false), (store.CanWrite("d-1", "h-1"), store.CanWrite("d-1", "h-2")));
        await store.PauseAsync("d-1", "h-1");
        await store.ReopenReadWriteAsync("d-1", "h-2", 2);
        Assert.Equal((false, true), (store.CanWrite("d-1", "h-1"), store.CanWrite("d-1", "h-2")));
    }

    private static CloudBackendOptions ZeroLatency() => new()
    {
        DiskOpenReadOnlyMs = 0, DiskPauseMs = 0, DiskReopenReadWriteMs = 0, DiskUnpauseMs = 0, DiskCloseMs = 0,
    };

    private static CloudDiskRecord NewRecord(string diskId, string writer) =>
        new(diskId, 40, "vm-1", ImmutableDictionary<string, DiskAttachment>.Empty.Add(writer, new DiskAttachment(DiskAttachmentMode.ReadWrite, 1)), 1);
}
