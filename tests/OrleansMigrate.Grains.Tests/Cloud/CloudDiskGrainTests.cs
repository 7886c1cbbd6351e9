using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Faults;

namespace OrleansMigrate.Tests.Cloud;

[Collection(CloudCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class CloudDiskGrainTests(CloudClusterFixture fixture)
{
    private const string Src = "h-src";
    private const string Dst = "h-dst";

    [Fact]
    public async Task Hand_over_open_pause_promote_close_moves_the_writer_at_a_new_generation_and_fences_the_source()
    {
        var (disk, id) = await NewDiskAsync();

        var record = await disk.OpenReadOnlyAsync(Dst);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.ReadOnly, 1), record.Attachments[Dst]);
        AssertStoreMatches(record);
        Assert.True(fixture.BlockStore.CanWrite(id, Src));

        record = await disk.PauseAsync(Src);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.Paused, 1), record.Attachments[Src]);
        Assert.Null(record.WriterHost);
        AssertStoreMatches(record);
        Assert.False(fixture.BlockStore.CanWrite(id, Src));

        record = await disk.PromoteReadWriteAsync(Dst);
        Assert.Equal(2, record.FencingGeneration);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.ReadWrite, 2), record.Attachments[Dst]);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.Paused, 1), record.Attachments[Src]);
        AssertStoreMatches(record);
        Assert.True(fixture.BlockStore.CanWrite(id, Dst));
        Assert.False(fixture.BlockStore.CanWrite(id, Src));

        record = await disk.CloseAsync(Src);
        Assert.Equal(Dst, Assert.Single(record.Attachments).Key);
        Assert.Equal(Dst, record.WriterHost);
        AssertStoreMatches(record);

        // The stale source cannot come back at its old generation: the store's fencing refuses it.
        var fenced = await Assert.ThrowsAsync<OmigException>(() => fixture.BlockStore.ReopenReadWriteAsync(id, Src, 1));
        Assert.Equal(OmigErrorCode.Conflict, fenced.Code);
        Assert.Equal("fencing_generation", fenced.Field);
        AssertStoreMatches(await disk.GetAsync());
    }

    [Fact]
    public async Task Promote_is_refused_while_another_host_still_writes_and_nothing_changes()
    {
        var (disk, id) = await NewDiskAsync();
        var before = await disk.OpenReadOnlyAsync(Dst);
        var promotes = fixture.Seen(FaultSteps.DiskPromote);

        var refused = await Assert.ThrowsAsync<OmigException>(() => disk.PromoteReadWriteAsync(Dst));

        Assert.Equal(OmigErrorCode.Conflict, refused.Code);
        Assert.Equal("disk", refused.Field);
        Assert.Contains(Src, refused.Reason, StringComparison.Ordinal);
        AssertSameRecord(before, await disk.GetAsync());
        AssertStoreMatches(before);
        Assert.Equal(promotes, fixture.Seen(FaultSteps.DiskPromote));
        Assert.True(fixture.BlockStore.CanWrite(id, Src));
        Assert.False(fixture.BlockStore.CanWrite(id, Dst));
    }

    [Fact]
    public async Task Restore_after_a_promote_takes_the_disk_back_at_a_new_generation_and_closes_the_destination()
    {
        var (disk, id) = await NewDiskAsync();
        await disk.OpenReadOnlyAsync(Dst);
        await disk.PauseAsync(Src);
        await disk.PromoteReadWriteAsync(Dst);

        var record = await disk.RestoreWriterAsync(Src);

        Assert.Equal(3, record.FencingGeneration);
        Assert.Equal(Src, Assert.Single(record.Attachments).Key);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.ReadWrite, 3), record.Attachments[Src]);
        AssertStoreMatches(record);
        Assert.True(fixture.BlockStore.CanWrite(id, Src));
        Assert.False(fixture.BlockStore.CanWrite(id, Dst));
    }

    [Fact]
    public async Task Restore_after_a_pause_unpauses_the_source_at_its_generation_and_closes_the_destination()
    {
        var (disk, id) = await NewDiskAsync();
        await disk.OpenReadOnlyAsync(Dst);
        await disk.PauseAsync(Src);

        var record = await disk.RestoreWriterAsync(Src);

        Assert.Equal(1, record.FencingGeneration);
        Assert.Equal(Src, Assert.Single(record.Attachments).Key);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.ReadWrite, 1), record.Attachments[Src]);
        AssertStoreMatches(record);
        Assert.True(fixture.BlockStore.CanWrite(id, Src));
    }

    [Fact]
    public async Task Every_hand_over_step_replayed_after_a_restart_changes_nothing_and_reaches_no_backend()
    {
        var (disk, _) = await NewDiskAsync();
        var steps = new (string Step, Func<Task<CloudDiskRecord>> Run)[]
        {
            (FaultSteps.DiskOpenReadOnly, () => disk.OpenReadOnlyAsync(Dst)),
            (FaultSteps.DiskPause, () => disk.PauseAsync(Src)),
            (FaultSteps.DiskPromote, () => disk.PromoteReadWriteAsync(Dst)),
            (FaultSteps.DiskClose, () => disk.CloseAsync(Src)),
            (FaultSteps.DiskRestore, () => disk.RestoreWriterAsync(Dst)),
        };

        foreach (var (step, run) in steps)
        {
            var done = await run();
            var seen = fixture.Seen(step);
            await fixture.Cluster.DeactivateAsync(disk);

            var replayed = await run();

            AssertSameRecord(done, replayed);
            AssertSameRecord(done, await disk.GetAsync());
            Assert.Equal(seen, fixture.Seen(step));
            AssertStoreMatches(replayed);
        }
    }

    [Fact]
    public async Task Replaying_a_restore_changes_nothing_and_reaches_no_backend()
    {
        var (disk, _) = await NewDiskAsync();
        await disk.OpenReadOnlyAsync(Dst);
        await disk.PauseAsync(Src);
        await disk.PromoteReadWriteAsync(Dst);
        var restored = await disk.RestoreWriterAsync(Src);
        var (restores, closes) = (fixture.Seen(FaultSteps.DiskRestore), fixture.Seen(FaultSteps.DiskClose));
        await fixture.Cluster.DeactivateAsync(disk);

        var replayed = await disk.RestoreWriterAsync(Src);

        AssertSameRecord(restored, replayed);
        Assert.Equal(restores, fixture.Seen(FaultSteps.DiskRestore));
        Assert.Equal(closes, fixture.Seen(FaultSteps.DiskClose));
    }

    [Theory]
    [InlineData(FaultSteps.DiskOpenReadOnly)]
    [InlineData(FaultSteps.DiskPause)]
    [InlineData(FaultSteps.DiskPromote)]
    [InlineData(FaultSteps.DiskRestore)]
    [InlineData(FaultSteps.DiskClose)]
    public async Task A_fault_at_a_disk_step_surfaces_leaves_disk_and_store_as_they_were_and_a_retry_succeeds(string step)
    {
        var (disk, _) = await NewDiskAsync();
        Func<Task<CloudDiskRecord>> run = step switch
        {
            FaultSteps.DiskOpenReadOnly => () => disk.OpenReadOnlyAsync(Dst),
            FaultSteps.DiskPause => () => disk.PauseAsync(Src),
            FaultSteps.DiskPromote => () => disk.PromoteReadWriteAsync(Dst),
            FaultSteps.DiskRestore => () => disk.RestoreWriterAsync(Src),
            _ => () => disk.CloseAsync(Src),
        };
        var prefix = new Func<Task<CloudDiskRecord>>[]
        {
            () => disk.OpenReadOnlyAsync(Dst), () => disk.PauseAsync(Src), () => disk.PromoteReadWriteAsync(Dst),
        };
        var stepsBefore = step switch
        {
            FaultSteps.DiskOpenReadOnly => 0,
            FaultSteps.DiskPause => 1,
            FaultSteps.DiskPromote => 2,
            _ => 3,
        };
        foreach (var before in prefix.Take(stepsBefore))
        {
            await before();
        }

        var recordBefore = (await disk.GetAsync())!;
        fixture.Faults.FailNext(step);
        try
        {
            var fault = await Assert.ThrowsAsync<InjectedFaultException>(run);
            Assert.Equal(step, fault.Step);
        }
        finally
        {
            fixture.Faults.Clear();
        }

        AssertSameRecord(recordBefore, await disk.GetAsync());
        AssertStoreMatches(recordBefore);
        AssertStoreMatches(await run());
    }

    [Fact]
    public async Task A_close_failing_inside_a_restore_keeps_the_restored_writer_and_a_replay_finishes_the_restore()
    {
        var (disk, _) = await NewDiskAsync();
        await disk.OpenReadOnlyAsync(Dst);
        await disk.PauseAsync(Src);
        await disk.PromoteReadWriteAsync(Dst);
        fixture.Faults.FailNext(FaultSteps.DiskClose);
        try
        {
            await Assert.ThrowsAsync<InjectedFaultException>(() => disk.RestoreWriterAsync(Src));
        }
        finally
        {
            fixture.Faults.Clear();
        }

        var halfway = (await disk.GetAsync())!;
        Assert.Equal(Src, halfway.WriterHost);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.Paused, 2), halfway.Attachments[Dst]);
        AssertStoreMatches(halfway);

        var restored = await disk.RestoreWriterAsync(Src);

        Assert.Equal(Src, Assert.Single(restored.Attachments).Key);
        AssertStoreMatches(restored);
    }

    [Fact]
    public async Task Pause_of_a_host_that_does_not_write_is_refused_and_nothing_changes()
    {
        var (disk, _) = await NewDiskAsync();
        var before = await disk.OpenReadOnlyAsync(Dst);

        var readOnly = await Assert.ThrowsAsync<OmigException>(() => disk.PauseAsync(Dst));
        var stranger = await Assert.ThrowsAsync<OmigException>(() => disk.PauseAsync("h-other"));

        Assert.All(new[] { readOnly, stranger }, e => Assert.Equal((OmigErrorCode.Conflict, "disk"), (e.Code, e.Field)));
        AssertSameRecord(before, await disk.GetAsync());
        AssertStoreMatches(before);
    }

    [Fact]
    public async Task Close_of_the_writer_or_of_the_paused_writer_with_no_other_writer_is_refused()
    {
        var (disk, _) = await NewDiskAsync();
        await disk.OpenReadOnlyAsync(Dst);

        var writer = await Assert.ThrowsAsync<OmigException>(() => disk.CloseAsync(Src));
        var paused = await disk.PauseAsync(Src);
        var pausedWriter = await Assert.ThrowsAsync<OmigException>(() => disk.CloseAsync(Src));

        Assert.All(new[] { writer, pausedWriter }, e => Assert.Equal((OmigErrorCode.Conflict, "disk"), (e.Code, e.Field)));
        AssertSameRecord(paused, await disk.GetAsync());
        AssertStoreMatches(paused);
    }

    [Fact]
    public async Task Opening_read_only_on_a_host_that_holds_the_disk_changes_nothing()
    {
        var (disk, _) = await NewDiskAsync();
        var before = (await disk.GetAsync())!;
        var opens = fixture.Seen(FaultSteps.DiskOpenReadOnly);

        var after = await disk.OpenReadOnlyAsync(Src);

        AssertSameRecord(before, after);
        Assert.Equal(opens, fixture.Seen(FaultSteps.DiskOpenReadOnly));
    }

    [Fact]
    public async Task Delete_by_another_VM_keeps_the_disk_and_delete_by_its_owner_removes_it_from_grain_and_store()
    {
        var (disk, id) = await NewDiskAsync("vm-owner");

        await disk.DeleteAsync("vm-other");
        Assert.NotNull(await disk.GetAsync());
        Assert.NotNull(fixture.BlockStore.Inspect(id));

        await disk.DeleteAsync("vm-owner");
        Assert.Null(await disk.GetAsync());
        Assert.Null(fixture.BlockStore.Inspect(id));
    }

    [Fact]
    public async Task Hand_over_steps_on_a_disk_that_does_not_exist_are_not_found()
    {
        var disk = fixture.Grains.GetGrain<ICloudDiskGrain>(TestFleet.Unique("d"));

        var missing = await Assert.ThrowsAsync<OmigException>(() => disk.OpenReadOnlyAsync(Dst));

        Assert.Equal((OmigErrorCode.NotFound, "disk"), (missing.Code, missing.Field));
    }

    [Fact]
    public async Task An_armed_take_over_is_one_store_action_whose_record_is_written_after_the_answer_and_survives_a_new_activation()
    {
        var (disk, id) = await NewDiskAsync();
        await disk.OpenReadOnlyAsync(Dst);
        var armed = await disk.ArmTakeOverAsync(Dst);
        Assert.Equal(Dst, armed.PendingWriter);
        var pauses = fixture.Seen(FaultSteps.DiskPause);

        var record = await disk.TakeOverAsync(Dst);

        Assert.Equal(pauses, fixture.Seen(FaultSteps.DiskPause));
        Assert.Equal((Dst, 2L, (string?)null), (record.WriterHost, record.FencingGeneration, record.PendingWriter));
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.Paused, 1), record.Attachments[Src]);
        AssertStoreMatches(record);
        Assert.Equal((false, true), (fixture.BlockStore.CanWrite(id, Src), fixture.BlockStore.CanWrite(id, Dst)));

        // The next request waited for the write: a new activation reads the take-over from storage.
        var closed = await disk.CloseAsync(Src);
        Assert.Equal(Dst, Assert.Single(closed.Attachments).Key);
        await disk.Cast<Orleans.Core.Internal.IGrainManagementExtension>().DeactivateOnIdle();
        var reread = await fixture.Grains.GetGrain<ICloudDiskGrain>(id).GetAsync();
        Assert.Equal((Dst, 2L, (string?)null, 1), (reread!.WriterHost, reread.FencingGeneration, reread.PendingWriter, reread.Attachments.Count));
        AssertStoreMatches(reread);
    }

    [Fact]
    public async Task A_rollback_with_a_host_armed_takes_the_disk_back_above_any_generation_the_take_over_could_have_used()
    {
        var (disk, id) = await NewDiskAsync();
        await disk.OpenReadOnlyAsync(Dst);
        await disk.ArmTakeOverAsync(Dst);

        var back = await disk.RestoreWriterAsync(Src);

        Assert.Equal((Src, 3L, (string?)null), (back.WriterHost, back.FencingGeneration, back.PendingWriter));
        Assert.Equal(Src, Assert.Single(back.Attachments).Key);
        AssertStoreMatches(back);
        Assert.True(fixture.BlockStore.CanWrite(id, Src));
    }

    [Fact]
    public async Task A_store_guests_do_not_attach_to_gives_no_attachment_and_opens_nothing()
    {
        var (disk, _) = await NewDiskAsync();
        Assert.Null(await disk.AttachAsync(Dst));
        Assert.False((await disk.GetAsync())!.Attachments.ContainsKey(Dst));

        var missing = await Assert.ThrowsAsync<OmigException>(() => fixture.Grains.GetGrain<ICloudDiskGrain>(TestFleet.Unique("d")).AttachAsync(Dst));
        Assert.Equal(OmigErrorCode.NotFound, missing.Code);
    }

    private async Task<(ICloudDiskGrain Disk, string DiskId)> NewDiskAsync(string vmId = "vm-1")
    {
        var id = TestFleet.Unique("d");
        var disk = fixture.Grains.GetGrain<ICloudDiskGrain>(id);
        var record = await disk.CreateAsync(new DiskSpec(id, 40), vmId, Src);
        AssertStoreMatches(record);
        return (disk, id);
    }

    private void AssertStoreMatches(CloudDiskRecord? record)
    {
        Assert.NotNull(record);
        var volume = fixture.BlockStore.Inspect(record.DiskId);
        Assert.NotNull(volume);
        Assert.Equal(record.FencingGeneration, volume.Generation);
        Assert.Equal(record.Attachments.OrderBy(a => a.Key, StringComparer.Ordinal), volume.Handles.OrderBy(a => a.Key, StringComparer.Ordinal));
        Assert.True(record.Attachments.Count(a => a.Value.Mode == DiskAttachmentMode.ReadWrite) <= 1);
    }

    private static void AssertSameRecord(CloudDiskRecord? expected, CloudDiskRecord? actual)
    {
        Assert.NotNull(expected);
        Assert.NotNull(actual);
        Assert.Equal((expected.DiskId, expected.VmId, expected.FencingGeneration), (actual.DiskId, actual.VmId, actual.FencingGeneration));
        Assert.Equal(expected.Attachments.OrderBy(a => a.Key, StringComparer.Ordinal), actual.Attachments.OrderBy(a => a.Key, StringComparer.Ordinal));
    }
}
