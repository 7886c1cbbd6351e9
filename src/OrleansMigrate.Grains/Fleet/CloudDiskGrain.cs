using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// One cloud disk. Its hand-over rules live in <see cref="DiskHandover"/>; this grain applies each step to
/// the block store (<see cref="ICloudDiskBackend"/>) first and then persists the record, so a failed action
/// changes nothing and a replay after a restart finds the state already held. Requests run one at a time.
/// </summary>
[ControlPlanePlacement]
public sealed partial class CloudDiskGrain(
    [PersistentState("disk", StorageNames.Fleet)] IPersistentState<CloudDiskGrainState> state,
    ICloudDiskBackend blockStore,
    ILogger<CloudDiskGrain> logger) : Grain, ICloudDiskGrain
{
    private string DiskId => this.GetPrimaryKeyString();

    /// <summary>The write of a take-over's record that follows its answer, or null.</summary>
    private Task? _writeBehind;

    public Task<CloudDiskRecord?> GetAsync() => Task.FromResult(state.State.Record);

    public async Task<CloudDiskRecord> CreateAsync(DiskSpec spec, string vmId, string hostId)
    {
        await FlushAsync();
        FleetValidation.RequireId("disk_id", spec.DiskId);
        FleetValidation.RequireId("vm_id", vmId);
        FleetValidation.RequireId("host", hostId);
        if (spec.DiskId != DiskId)
        {
            throw OmigException.Invalid("disk_id", $"'{spec.DiskId}' does not match the grain key '{DiskId}'");
        }

        if (state.State.Record is { } existing)
        {
            return existing.VmId == vmId && existing.WriterHost == hostId
                ? existing
                : throw OmigException.Conflict("disk_id", $"disk '{DiskId}' already exists (used by VM '{existing.VmId}')");
        }

        var record = new CloudDiskRecord(DiskId, spec.SizeGiB, vmId,
            ImmutableDictionary<string, DiskAttachment>.Empty.Add(hostId, new DiskAttachment(DiskAttachmentMode.ReadWrite, 1)), 1);
        await blockStore.CreateAsync(DiskId, hostId);
        await SaveAsync(record);
        return record;
    }

    public async Task DeleteAsync(string vmId)
    {
        await FlushAsync();
        if (state.State.Record is { } record && record.VmId == vmId)
        {
            await blockStore.DeleteAsync(DiskId);
            await state.ClearStateAsync();
            state.State.Record = null;
        }
    }

    public Task<CloudDiskRecord> OpenReadOnlyAsync(string hostId) => ApplyAsync(hostId, DiskHandover.OpenReadOnly);

    public Task<CloudDiskRecord> PauseAsync(string hostId) => ApplyAsync(hostId, DiskHandover.Pause);

    public Task<CloudDiskRecord> PromoteReadWriteAsync(string hostId) => ApplyAsync(hostId, DiskHandover.PromoteReadWrite);

    public async Task<CloudDiskRecord> TakeOverAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        await FlushAsync();
        var record = state.State.Record ?? throw OmigException.NotFound("disk", $"disk '{DiskId}' does not exist");
        if (!blockStore.FencesOnGrant)
        {
            if (record.WriterHost is { } writer && writer != hostId)
            {
                // No fencing in the store: the writer's I/O is blocked by pausing it, and only then is the host promoted.
                await ApplyAsync(writer, DiskHandover.Pause);
            }

            return await ApplyAsync(hostId, DiskHandover.PromoteReadWrite);
        }

        if (record.PendingWriter != hostId)
        {
            return await ApplyAsync(hostId, DiskHandover.TakeOver);
        }

        // Armed before the pause: the store acts, the answer goes, and the record is written after it (the next request
        // waits for that write). Until it lands the stored record names this host pending, which a rollback and a replay
        // both treat as "may have taken over" (DiskHandover.RestoreWriter, and this idempotent step).
        var step = DiskHandover.TakeOver(record, hostId);
        if (step.Action != DiskBackendAction.None)
        {
            await blockStore.ReopenReadWriteAsync(DiskId, hostId, step.Generation);
        }

        state.State.Record = step.After with { PendingWriter = null };
        _writeBehind = WriteBehindAsync(hostId);
        return state.State.Record;
    }

    public async Task<CloudDiskRecord> ArmTakeOverAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        await FlushAsync();
        var record = state.State.Record ?? throw OmigException.NotFound("disk", $"disk '{DiskId}' does not exist");
        if (record.WriterHost == hostId || record.PendingWriter == hostId)
        {
            return record;
        }

        var armed = record with { PendingWriter = hostId };
        await SaveAsync(armed);
        return armed;
    }

    /// <summary>The record of a take-over, written after its answer; logged then too (nothing is logged inside the downtime).</summary>
    private async Task WriteBehindAsync(string hostId)
    {
        await state.WriteStateAsync();
        LogStep(logger, DiskId, DiskBackendAction.ReopenReadWrite, hostId, state.State.Record!.FencingGeneration);
    }

    /// <summary>Waits for a take-over's record to be written; one that failed is written again now (the in-memory record
    /// matches the store). Every request starts here, so none reads or writes past an unwritten take-over.</summary>
    private async Task FlushAsync()
    {
        if (_writeBehind is not { } pending)
        {
            return;
        }

        try
        {
            await pending;
        }
        catch (Exception ex)
        {
            LogWriteBehindRetry(logger, DiskId, ex.Message);
            await state.WriteStateAsync();
        }

        _writeBehind = null;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        try
        {
            await FlushAsync();
        }
        catch (Exception ex)
        {
            // The stored record still names the armed host pending: a replay or a rollback finishes from there.
            LogWriteBehindRetry(logger, DiskId, ex.Message);
        }
    }

    public async Task<CloudDiskRecord> RestoreWriterAsync(string hostId)
    {
        await FlushAsync();
        if (!blockStore.FencesOnGrant && state.State.Record?.WriterHost is { } writer && writer != hostId)
        {
            // A store without fencing does not block the host that was promoted when the disk is taken back: pause it first.
            await ApplyAsync(writer, DiskHandover.Pause);
        }

        var record = await ApplyAsync(hostId, DiskHandover.RestoreWriter);

        // The writer is back first (the light action); the slow closes follow, each persisted, so a failed
        // close leaves a record that matches the store and a replay finishes the rest.
        foreach (var other in record.Attachments.Keys.Where(h => h != hostId).Order(StringComparer.Ordinal).ToList())
        {
            record = await ApplyAsync(other, DiskHandover.Close);
        }

        return record;
    }

    public Task<CloudDiskRecord> CloseAsync(string hostId) => ApplyAsync(hostId, DiskHandover.Close);

    public async Task<BlockDeviceAttachment?> AttachAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        await FlushAsync();
        if (state.State.Record is null)
        {
            throw OmigException.NotFound("disk", $"disk '{DiskId}' does not exist");
        }

        if (!blockStore.AttachesGuests)
        {
            return null;
        }

        // The export is that of the host's own handle: a host with none yet (a migration's destination, whose QEMU
        // connects as it starts) gets a read-only one, recorded like any other open so a rollback closes it.
        await ApplyAsync(hostId, DiskHandover.OpenReadOnly);
        return blockStore.GuestAttachment(DiskId, hostId);
    }

    public async Task<ImmutableArray<DiskFenceAudit>> FenceAuditsAsync()
    {
        await FlushAsync();
        return state.State.Record is null ? [] : [.. await blockStore.FenceAuditsAsync(DiskId)];
    }

    private async Task<CloudDiskRecord> ApplyAsync(string hostId, Func<CloudDiskRecord, string, DiskStep> rule)
    {
        FleetValidation.RequireId("host", hostId);
        await FlushAsync();
        var record = state.State.Record ?? throw OmigException.NotFound("disk", $"disk '{DiskId}' does not exist");
        var step = rule(record, hostId);
        if (step.Action == DiskBackendAction.None)
        {
            return record;
        }

        await (step.Action switch
        {
            DiskBackendAction.OpenReadOnly => blockStore.OpenReadOnlyAsync(DiskId, hostId),
            DiskBackendAction.Pause => blockStore.PauseAsync(DiskId, hostId),
            DiskBackendAction.ReopenReadWrite => blockStore.ReopenReadWriteAsync(DiskId, hostId, step.Generation),
            DiskBackendAction.ResumeWriter => blockStore.ResumeWriterAsync(DiskId, hostId, step.Generation),
            DiskBackendAction.Close => blockStore.CloseAsync(DiskId, hostId),
            _ => throw new InvalidOperationException($"unknown disk action {step.Action}"),
        });
        await SaveAsync(step.After);
        LogStep(logger, DiskId, step.Action, hostId, step.After.FencingGeneration);
        return step.After;
    }

    /// <summary>Persists <paramref name="record"/>; on a storage failure the grain keeps the record it had, so it
    /// never answers with state it did not store (the block-store action is idempotent and is replayed).</summary>
    private async Task SaveAsync(CloudDiskRecord record)
    {
        var before = state.State.Record;
        state.State.Record = record;
        await state.WriteOrRevertAsync(() => state.State.Record = before);
    }

    [LoggerMessage(EventId = 6102, Level = LogLevel.Warning, Message = "Disk {DiskId}: writing the record of a take-over after its answer failed ({Reason}); writing it again")]
    private static partial void LogWriteBehindRetry(ILogger logger, string diskId, string reason);

    [LoggerMessage(EventId = 6101, Level = LogLevel.Information, Message = "Disk {DiskId}: {Action} on host {HostId}; fencing generation {Generation}")]
    private static partial void LogStep(ILogger logger, string diskId, DiskBackendAction action, string hostId, long generation);
}
