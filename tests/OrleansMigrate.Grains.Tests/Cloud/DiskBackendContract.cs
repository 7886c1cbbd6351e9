using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Faults;

namespace OrleansMigrate.Tests.Cloud;

/// <summary>
/// The <see cref="ICloudDiskBackend"/> contract, one table run against every block store: generations (older ones
/// refused, a generation held by another writer refused), idempotent repeats, the one-action take-over that fences,
/// rollbacks, and a random walk of <see cref="DiskHandover"/> steps after which the store must agree with the record.
/// Each store adds what it can read back of itself (<see cref="CheckStoreAsync"/>).
/// </summary>
public abstract class DiskBackendContract : IAsyncLifetime
{
    /// <summary>The hosts the table acts for.</summary>
    protected static readonly string[] Hosts = ["h-1", "h-2", "h-3"];

    /// <summary>The store under test.</summary>
    protected ICloudDiskBackend Store { get; set; } = null!;

    /// <summary>Steps of the random walk.</summary>
    protected abstract int WalkSteps { get; }

    public abstract Task InitializeAsync();

    public abstract Task DisposeAsync();

    /// <summary>What the store holds for a disk, or null.</summary>
    protected abstract BlockStoreVolume? Inspect(string diskId);

    /// <summary>A store's own check that what it serves matches <paramref name="volume"/> (the real daemon's exports).</summary>
    protected virtual Task CheckStoreAsync(string diskId, BlockStoreVolume volume) => Task.CompletedTask;

    [Fact]
    public async Task Random_hand_over_sequences_never_have_two_writers_and_the_store_always_agrees_with_the_record()
    {
        var random = new Random(20171027);
        var rules = new Func<CloudDiskRecord, string, DiskStep>[]
        {
            DiskHandover.OpenReadOnly, DiskHandover.Pause, DiskHandover.PromoteReadWrite, DiskHandover.RestoreWriter, DiskHandover.Close,
            DiskHandover.TakeOver,
        };
        var record = NewRecord("d-random", "h-1");
        await Store.CreateAsync(record.DiskId, "h-1");
        var (applied, refused) = (0, 0);

        for (var i = 0; i < WalkSteps; i++)
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

            await ApplyAsync(Store, step);
            AssertInvariants(record, step.After);
            record = step.After;
            applied++;
            var volume = Inspect(record.DiskId)!;
            Assert.Equal(record.FencingGeneration, volume.Generation);
            Assert.Equal(record.Attachments.OrderBy(a => a.Key, StringComparer.Ordinal), volume.Handles.OrderBy(a => a.Key, StringComparer.Ordinal));
            Assert.True(volume.Handles.Count(h => h.Value.Mode == DiskAttachmentMode.ReadWrite) <= 1, "two writers");
            await CheckStoreAsync(record.DiskId, volume);
        }

        Assert.True(applied > WalkSteps / 6 && refused > WalkSteps / 30, $"applied {applied}, refused {refused}: the walk should exercise both");
    }

    [Fact]
    public async Task The_store_refuses_a_write_open_at_an_older_generation_or_at_one_another_host_writes_at()
    {
        await Store.CreateAsync("d-1", "h-1");
        await Store.ReopenReadWriteAsync("d-1", "h-2", 2);

        var older = await Assert.ThrowsAsync<OmigException>(() => Store.ReopenReadWriteAsync("d-1", "h-1", 1));
        var taken = await Assert.ThrowsAsync<OmigException>(() => Store.ReopenReadWriteAsync("d-1", "h-3", 2));
        var resumeOlder = await Assert.ThrowsAsync<OmigException>(() => Store.ResumeWriterAsync("d-1", "h-1", 1));

        Assert.All(new[] { older, taken, resumeOlder }, e => Assert.Equal((OmigErrorCode.Conflict, "fencing_generation"), (e.Code, e.Field)));
        var volume = Inspect("d-1")!;
        Assert.Equal(2, volume.Generation);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.Paused, 1), volume.Handles["h-1"]);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.ReadWrite, 2), volume.Handles["h-2"]);
        Assert.False(volume.Handles.ContainsKey("h-3"));
        await CheckStoreAsync("d-1", volume);
    }

    [Fact]
    public async Task Every_action_repeated_is_no_change()
    {
        await Store.CreateAsync("d-1", "h-1");
        await Store.CreateAsync("d-1", "h-1");
        await Store.OpenReadOnlyAsync("d-1", "h-2");
        await Store.OpenReadOnlyAsync("d-1", "h-2");
        var opened = Inspect("d-1")!;
        await Store.ReopenReadWriteAsync("d-1", "h-1", 1);
        Assert.Equal(opened.Handles.OrderBy(a => a.Key), Inspect("d-1")!.Handles.OrderBy(a => a.Key));

        await Store.PauseAsync("d-1", "h-1");
        await Store.PauseAsync("d-1", "h-1");
        await Store.ReopenReadWriteAsync("d-1", "h-2", 2);
        await Store.ReopenReadWriteAsync("d-1", "h-2", 2);
        await Store.CloseAsync("d-1", "h-1");
        await Store.CloseAsync("d-1", "h-1");
        await Store.CloseAsync("d-1", "h-3");

        var volume = Inspect("d-1")!;
        Assert.Equal(2, volume.Generation);
        Assert.Equal([new KeyValuePair<string, DiskAttachment>("h-2", new DiskAttachment(DiskAttachmentMode.ReadWrite, 2))], volume.Handles.ToArray());
        await CheckStoreAsync("d-1", volume);
        var again = await Assert.ThrowsAsync<OmigException>(() => Store.CreateAsync("d-1", "h-3"));
        Assert.Equal(OmigErrorCode.Conflict, again.Code);
        var notWriter = await Assert.ThrowsAsync<OmigException>(() => Store.PauseAsync("d-1", "h-3"));
        Assert.Equal(OmigErrorCode.Conflict, notWriter.Code);

        await Store.DeleteAsync("d-1");
        await Store.DeleteAsync("d-1");
        Assert.Null(Inspect("d-1"));
    }

    [Fact]
    public async Task A_take_over_is_one_store_action_that_fences_the_writer_it_supersedes()
    {
        var record = NewRecord("d-1", "h-1");
        await Store.CreateAsync("d-1", "h-1");
        record = DiskHandover.OpenReadOnly(record, "h-2").After;
        await Store.OpenReadOnlyAsync("d-1", "h-2");

        var step = DiskHandover.TakeOver(record, "h-2");
        await ApplyAsync(Store, step);

        Assert.Equal((DiskBackendAction.ReopenReadWrite, 2L), (step.Action, step.Generation));
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.Paused, 1), step.After.Attachments["h-1"]);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.ReadWrite, 2), step.After.Attachments["h-2"]);
        Assert.Equal(DiskBackendAction.None, DiskHandover.TakeOver(step.After, "h-2").Action);
        Assert.Equal(step.After.Attachments.OrderBy(a => a.Key, StringComparer.Ordinal), Inspect("d-1")!.Handles.OrderBy(a => a.Key, StringComparer.Ordinal));
        await CheckStoreAsync("d-1", Inspect("d-1")!);

        // Rolled back: the source takes the disk back at a newer generation still, fencing the destination.
        var back = DiskHandover.RestoreWriter(step.After, "h-1");
        await ApplyAsync(Store, back);
        var volume = Inspect("d-1")!;
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.ReadWrite, 3), volume.Handles["h-1"]);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.Paused, 2), volume.Handles["h-2"]);
        await CheckStoreAsync("d-1", volume);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_rollback_of_an_armed_take_over_whose_record_may_trail_the_store_fences_the_destination_either_way(bool tookOver)
    {
        var record = DiskHandover.OpenReadOnly(NewRecord("d-1", "h-1"), "h-2").After with { PendingWriter = "h-2" };
        await Store.CreateAsync("d-1", "h-1");
        await Store.OpenReadOnlyAsync("d-1", "h-2");
        if (tookOver)
        {
            await ApplyAsync(Store, DiskHandover.TakeOver(record, "h-2"));
        }

        var back = DiskHandover.RestoreWriter(record, "h-1");
        await ApplyAsync(Store, back);

        // The stored record names h-2 armed and h-1 the writer: whether the take-over reached the store or not, the
        // restore must leave h-1 the only writer.
        Assert.Equal((DiskBackendAction.ResumeWriter, 3L, (string?)null), (back.Action, back.Generation, back.After.PendingWriter));
        AssertInvariants(record, back.After);
        var volume = Inspect("d-1")!;
        Assert.Equal(3, volume.Generation);
        Assert.Equal(new DiskAttachment(DiskAttachmentMode.ReadWrite, 3), volume.Handles["h-1"]);
        Assert.NotEqual(DiskAttachmentMode.ReadWrite, volume.Handles["h-2"].Mode);
        await CheckStoreAsync("d-1", volume);
    }

    /// <summary>The rules' own invariants from one record to the next: at most one writer, at the fencing generation; the
    /// generation never goes back; a new writer comes with a new generation (only the paused writer of the current one
    /// resumes at it).</summary>
    protected static void AssertInvariants(CloudDiskRecord before, CloudDiskRecord after)
    {
        var writers = after.Attachments.Where(a => a.Value.Mode == DiskAttachmentMode.ReadWrite).ToList();
        Assert.True(writers.Count <= 1, $"two writers: {string.Join(", ", writers.Select(w => w.Key))}");
        Assert.All(writers, w => Assert.Equal(after.FencingGeneration, w.Value.Generation));
        Assert.True(after.FencingGeneration >= before.FencingGeneration, "the fencing generation went back");
        if (after.WriterHost is { } writer && writer != before.WriterHost)
        {
            var resumed = before.Attachments.TryGetValue(writer, out var was)
                && was is { Mode: DiskAttachmentMode.Paused }
                && was.Generation == before.FencingGeneration
                && after.FencingGeneration == before.FencingGeneration;
            Assert.True(resumed || after.FencingGeneration > before.FencingGeneration, $"host {writer} became the writer without a new generation");
        }
    }

    protected static CloudDiskRecord NewRecord(string diskId, string writer) =>
        new(diskId, 40, "vm-1", ImmutableDictionary<string, DiskAttachment>.Empty.Add(writer, new DiskAttachment(DiskAttachmentMode.ReadWrite, 1)), 1);

    protected static Task ApplyAsync(ICloudDiskBackend store, DiskStep step) => step.Action switch
    {
        DiskBackendAction.None => Task.CompletedTask,
        DiskBackendAction.OpenReadOnly => store.OpenReadOnlyAsync(step.After.DiskId, step.HostId),
        DiskBackendAction.Pause => store.PauseAsync(step.After.DiskId, step.HostId),
        DiskBackendAction.ReopenReadWrite => store.ReopenReadWriteAsync(step.After.DiskId, step.HostId, step.Generation),
        DiskBackendAction.ResumeWriter => store.ResumeWriterAsync(step.After.DiskId, step.HostId, step.Generation),
        DiskBackendAction.Close => store.CloseAsync(step.After.DiskId, step.HostId),
        _ => throw new ArgumentOutOfRangeException(nameof(step)),
    };
}

/// <summary>The contract on the simulated block store.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class SimulatedDiskBackendContractTests : DiskBackendContract
{
    private SimulatedCloudDiskBackend _store = null!;

    protected override int WalkSteps => 3_000;

    public override Task InitializeAsync()
    {
        _store = new SimulatedCloudDiskBackend(
            new CloudBackendOptions { DiskOpenReadOnlyMs = 0, DiskPauseMs = 0, DiskReopenReadWriteMs = 0, DiskUnpauseMs = 0, DiskCloseMs = 0 },
            NoFaults.Instance, TimeProvider.System);
        Store = _store;
        return Task.CompletedTask;
    }

    public override Task DisposeAsync() => Task.CompletedTask;

    protected override BlockStoreVolume? Inspect(string diskId) => _store.Inspect(diskId);

    protected override Task CheckStoreAsync(string diskId, BlockStoreVolume volume)
    {
        foreach (var (host, handle) in volume.Handles)
        {
            Assert.Equal(handle.Mode == DiskAttachmentMode.ReadWrite && handle.Generation == volume.Generation, _store.CanWrite(diskId, host));
        }

        Assert.All(Hosts.Where(h => !volume.Handles.ContainsKey(h)), h => Assert.False(_store.CanWrite(diskId, h), $"{h} holds no handle yet can write"));

        return Task.CompletedTask;
    }
}
