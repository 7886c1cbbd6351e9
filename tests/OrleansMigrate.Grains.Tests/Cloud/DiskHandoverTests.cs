using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Faults;

namespace OrleansMigrate.Tests.Cloud;

/// <summary>The hand-over rules alone, and against the simulated block store, without a cluster.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DiskHandoverTests
{
    private static readonly string[] Hosts = ["h-1", "h-2", "h-3"];

    [Fact]
    public async Task Random_hand_over_sequences_never_have_two_writers_and_the_store_always_agrees_with_the_record()
    {
        var store = new SimulatedCloudDiskBackend(ZeroLatency(), NoFaults.Instance, TimeProvider.System);
        var random = new Random(20171027);
        var rules = new Func<CloudDiskRecord, string, DiskStep>[]
        {
            DiskHandover.OpenReadOnly, DiskHandover.Pause, DiskHandover.PromoteReadWrite, DiskHandover.RestoreWriter, DiskHandover.Close,
            DiskHandover.TakeOver,
        };
        var record = NewRecord("d-random", "h-1");
        await store.CreateAsync(record.DiskId, "h-1");
        var (applied, refused) = (0, 0);

        for (var i = 0; i < 3_000; i++)
        {
            var host = Hosts[random.Next(Hosts.Length)];
            DiskStep step;
            try
            {
                step = rules[random.Next(rules.Length)](record, host);
            }
            catch (OmigException e) when (e.Code == OmigErrorCode.Conflict)
            {
                refused++;
                continue;
            }

            await ApplyAsync(store, step);
            AssertInvariants(record, step.After);
            record = step.After;
            applied++;
            var volume = store.Inspect(record.DiskId)!;
            Assert.Equal(record.FencingGeneration, volume.Generation);
            Assert.Equal(record.Attachments.OrderBy(a => a.Key, StringComparer.Ordinal), volume.Handles.OrderBy(a => a.Key, StringComparer.Ordinal));
            Assert.All(Hosts, h => Assert.Equal(record.WriterHost == h, store.CanWrite(record.DiskId, h)));
        }

        Assert.True(applied > 500 && refused > 100, $"applied {applied}, refused {refused}: the walk should exercise both");
    }

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
    public async Task The_store_refuses_a_write_open_at_an_older_generation_or_at_one_another_host_writes_at()
    {
        var store = new SimulatedCloudDiskBackend(ZeroLatency(), NoFaults.Instance, TimeProvider.System);
        await store.CreateAsync("d-1", "h-1");
        await store.ReopenReadWriteAsync("d-1", "h-2", 2);

        var older = await Assert.ThrowsAsync<OmigException>(() => store.ReopenReadWriteAsync("d-1", "h-1", 1));
        var taken = await Assert.ThrowsAsync<OmigException>(() => store.ReopenReadWriteAsync("d-1", "h-3", 2));
        var resumeOlder = await Assert.ThrowsAsync<OmigException>(() => store.ResumeWriterAsync("d-1", "h-1", 1));

        Assert.All(new[] { older, taken, resumeOlder }, e => Assert.Equal((OmigErrorCode.Conflict, "fencing_generation"), (e.Code, e.Field)));
        var volume = store.Inspect("d-1")!;
        Assert.Equal(2, volume.Generation);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.Paused, 1), volume.Handles["h-1"]);
        Assert.True(store.CanWrite("d-1", "h-2"));
        Assert.False(store.CanWrite("d-1", "h-1"));
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
    public async Task A_take_over_is_one_store_action_that_fences_the_writer_it_supersedes()
    {
        var store = new SimulatedCloudDiskBackend(ZeroLatency(), NoFaults.Instance, TimeProvider.System);
        var record = NewRecord("d-1", "h-1");
        await store.CreateAsync("d-1", "h-1");
        record = DiskHandover.OpenReadOnly(record, "h-2").After;
        await store.OpenReadOnlyAsync("d-1", "h-2");

        var step = DiskHandover.TakeOver(record, "h-2");
        await ApplyAsync(store, step);

        Assert.Equal((DiskBackendAction.ReopenReadWrite, 2L), (step.Action, step.Generation));
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.Paused, 1), step.After.Attachments["h-1"]);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.ReadWrite, 2), step.After.Attachments["h-2"]);
        Assert.Equal((false, true), (store.CanWrite("d-1", "h-1"), store.CanWrite("d-1", "h-2")));
        Assert.Equal(step.After.Attachments.OrderBy(a => a.Key, StringComparer.Ordinal), store.Inspect("d-1")!.Handles.OrderBy(a => a.Key, StringComparer.Ordinal));
        Assert.Equal(DiskBackendAction.None, DiskHandover.TakeOver(step.After, "h-2").Action);

        // Rolled back: the source takes the disk back at a newer generation still, fencing the destination.
        var back = DiskHandover.RestoreWriter(step.After, "h-1");
        await ApplyAsync(store, back);
        Assert.Equal((true, false), (store.CanWrite("d-1", "h-1"), store.CanWrite("d-1", "h-2")));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_rollback_of_an_armed_take_over_whose_record_may_trail_the_store_fences_the_destination_either_way(bool tookOver)
    {
        // The stored record names h-2 armed and h-1 the writer: whether the take-over reached the store or not, the
        // restore must leave h-1 the only writer.
        var store = new SimulatedCloudDiskBackend(ZeroLatency(), NoFaults.Instance, TimeProvider.System);
        var record = DiskHandover.OpenReadOnly(NewRecord("d-1", "h-1"), "h-2").After with { PendingWriter = "h-2" };
        await store.CreateAsync("d-1", "h-1");
        await store.OpenReadOnlyAsync("d-1", "h-2");
        if (tookOver)
        {
            await ApplyAsync(store, DiskHandover.TakeOver(record, "h-2"));
        }

        var back = DiskHandover.RestoreWriter(record, "h-1");
        await ApplyAsync(store, back);

        Assert.Equal((DiskBackendAction.ResumeWriter, 3L, (string?)null), (back.Action, back.Generation, back.After.PendingWriter));
        Assert.Equal((true, false), (store.CanWrite("d-1", "h-1"), store.CanWrite("d-1", "h-2")));
        AssertInvariants(record, back.After);
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

    private static Task ApplyAsync(SimulatedCloudDiskBackend store, DiskStep step) => step.Action switch
    {
        DiskBackendAction.None => Task.CompletedTask,
        DiskBackendAction.OpenReadOnly => store.OpenReadOnlyAsync(step.After.DiskId, step.HostId),
        DiskBackendAction.Pause => store.PauseAsync(step.After.DiskId, step.HostId),
        DiskBackendAction.ReopenReadWrite => store.ReopenReadWriteAsync(step.After.DiskId, step.HostId, step.Generation),
        DiskBackendAction.ResumeWriter => store.ResumeWriterAsync(step.After.DiskId, step.HostId, step.Generation),
        DiskBackendAction.Close => store.CloseAsync(step.After.DiskId, step.HostId),
        _ => throw new ArgumentOutOfRangeException(nameof(step)),
    };

    private static void AssertInvariants(CloudDiskRecord before, CloudDiskRecord after)
    {
        var writers = after.Attachments.Where(a => a.Value.Mode == DiskAttachmentMode.ReadWrite).ToList();
        Assert.True(writers.Count <= 1, $"two writers: {string.Join(", ", writers.Select(w => w.Key))}");
        Assert.All(writers, w => Assert.Equal(after.FencingGeneration, w.Value.Generation));
        Assert.True(after.FencingGeneration >= before.FencingGeneration, "the fencing generation went back");
        if (after.WriterHost is { } writer && writer != before.WriterHost)
        {
            // A new writer comes with a new generation; only the paused writer of the current one resumes at it.
            var resumed = before.Attachments.TryGetValue(writer, out var was)
                && was is { Mode: DiskAttachmentMode.Paused }
                && was.Generation == before.FencingGeneration
                && after.FencingGeneration == before.FencingGeneration;
            Assert.True(resumed || after.FencingGeneration > before.FencingGeneration, $"host {writer} became the writer without a new generation");
        }
    }
}
