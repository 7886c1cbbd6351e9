using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Hosting;
using OrleansMigrate.Placement;

namespace OrleansMigrate.Fleet;

[ControlPlanePlacement]
public sealed class CloudDiskGrain(
    [PersistentState("disk", StorageNames.Fleet)] IPersistentState<CloudDiskGrainState> state) : Grain, ICloudDiskGrain
{
    private string DiskId => this.GetPrimaryKeyString();

    public Task<CloudDiskRecord?> GetAsync() => Task.FromResult(state.State.Record);

    public async Task<CloudDiskRecord> CreateAsync(DiskSpec spec, string vmId, string hostId)
    {
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

        state.State.Record = new CloudDiskRecord(DiskId, spec.SizeGiB, vmId,
            ImmutableDictionary<string, DiskAttachment>.Empty.Add(hostId, new DiskAttachment(DiskAttachmentMode.ReadWrite, 1)), 1);
        await state.WriteStateAsync();
        return state.State.Record;
    }

    public async Task DeleteAsync(string vmId)
    {
        if (state.State.Record is { } record && record.VmId == vmId)
        {
            await state.ClearStateAsync();
            state.State.Record = null;
        }
    }
}
