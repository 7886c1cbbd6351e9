using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;

namespace OrleansMigrate.Grains.Fleet;

[ControlPlanePlacement]
public sealed class VmGrain(
    [PersistentState("vm", StorageNames.Fleet)] IPersistentState<VmGrainState> state,
    TimeProvider time) : Grain, IVmGrain
{
    private string VmId => this.GetPrimaryKeyString();

    public Task<VmRecord?> GetAsync() => Task.FromResult(state.State.Record);

    public async Task<VmRecord> CreateAsync(VmSpec spec, string hostId)
    {
        FleetValidation.ValidateVm(spec);
        FleetValidation.RequireId("host", hostId);
        if (spec.VmId != VmId)
        {
            throw OmigException.Invalid("vm_id", $"'{spec.VmId}' does not match the grain key '{VmId}'");
        }

        if (state.State.Record is { } existing)
        {
            return existing.HostId == hostId ? existing : throw OmigException.Conflict("vm_id", $"VM '{VmId}' already exists");
        }

        var before1 = state.State.Record;
        state.State.Record = new VmRecord(spec, hostId, PowerState.Running, time.GetUtcNow());
        await state.WriteOrRevertAsync(() => state.State.Record = before1);
        return state.State.Record;
    }

    public async Task<VmRecord> SetPowerAsync(PowerState power)
    {
        if (!Enum.IsDefined(power))
        {
            throw OmigException.Invalid("power", $"'{power}' is not a power state");
        }

        var record = state.State.Record ?? throw OmigException.NotFound("vm", $"VM '{VmId}' does not exist");
        if (record.Power == power && record.PowerDetail is null)
        {
            return record;
        }

        var before2 = state.State.Record;
        state.State.Record = record with { Power = power, PowerDetail = null };
        await state.WriteOrRevertAsync(() => state.State.Record = before2);
        return state.State.Record;
    }

    public async Task<VmRecord> MarkUnknownAsync(string detail)
    {
        if (string.IsNullOrWhiteSpace(detail))
        {
            throw OmigException.Invalid("detail", "say why the VM's state is unknown");
        }

        var record = state.State.Record ?? throw OmigException.NotFound("vm", $"VM '{VmId}' does not exist");
        detail = detail[..Math.Min(detail.Length, 1000)];
        if (record.Power == PowerState.Unknown && record.PowerDetail == detail)
        {
            return record;
        }

        var before3 = state.State.Record;
        state.State.Record = record with { Power = PowerState.Unknown, PowerDetail = detail };
        await state.WriteOrRevertAsync(() => state.State.Record = before3);
        return state.State.Record;
    }

    public async Task<VmRecord> ResolveUnknownAsync(PowerState power)
    {
        var record = state.State.Record ?? throw OmigException.NotFound("vm", $"VM '{VmId}' does not exist");
        return record.Power == PowerState.Unknown && power != PowerState.Unknown ? await SetPowerAsync(power) : record;
    }

    public async Task<VmRecord> MoveAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        var record = state.State.Record ?? throw OmigException.NotFound("vm", $"VM '{VmId}' does not exist");
        if (record.HostId == hostId)
        {
            return record;
        }

        var before4 = state.State.Record;
        state.State.Record = record with { HostId = hostId };
        await state.WriteOrRevertAsync(() => state.State.Record = before4);
        return state.State.Record;
    }

    public async Task DeleteAsync()
    {
        if (state.State.Record is not null)
        {
            await state.ClearStateAsync();
            state.State.Record = null;
        }
    }
}
