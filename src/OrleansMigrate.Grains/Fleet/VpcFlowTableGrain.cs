using OrleansMigrate.Errors;
using OrleansMigrate.Hosting;
using OrleansMigrate.Placement;

namespace OrleansMigrate.Fleet;

[ControlPlanePlacement]
public sealed class VpcFlowTableGrain(
    [PersistentState("vpc", StorageNames.Fleet)] IPersistentState<VpcFlowTableGrainState> state) : Grain, IVpcFlowTableGrain
{
    private string VpcId => this.GetPrimaryKeyString();

    public Task<VpcFlowTable> GetAsync() =>
        Task.FromResult(new VpcFlowTable(VpcId, state.State.Flows, state.State.Relays.IsDefault ? [] : state.State.Relays));

    public async Task AddFlowAsync(FlowEntry flow)
    {
        if (!FleetValidation.IsValidIpv4(flow.Ip))
        {
            throw OmigException.Invalid("ip", $"'{flow.Ip}' is not an IPv4 address");
        }

        FleetValidation.RequireId("vm_id", flow.VmId);
        FleetValidation.RequireId("host", flow.HostId);
        if (state.State.Flows.TryGetValue(flow.Ip, out var existing))
        {
            if (existing == flow)
            {
                return;
            }

            if (existing.VmId != flow.VmId)
            {
                throw OmigException.Conflict("ip", $"'{flow.Ip}' in VPC '{VpcId}' belongs to VM '{existing.VmId}'");
            }
        }

        state.State.Flows = state.State.Flows.SetItem(flow.Ip, flow);
        await state.WriteStateAsync();
    }

    public async Task RemoveFlowAsync(string ip, string vmId)
    {
        if (state.State.Flows.TryGetValue(ip, out var existing) && existing.VmId == vmId)
        {
            state.State.Flows = state.State.Flows.Remove(ip);
            await state.WriteStateAsync();
        }
    }

    public Task<string?> ResolveAsync(string ip)
    {
        if (!state.State.Flows.TryGetValue(ip, out var flow))
        {
            return Task.FromResult<string?>(null);
        }

        var relays = state.State.Relays.IsDefault ? [] : state.State.Relays;
        var relay = relays.FirstOrDefault(r => r.Ip == ip && r.Enabled && r.FromHost == flow.HostId);
        return Task.FromResult<string?>(relay?.ToHost ?? flow.HostId);
    }
}
