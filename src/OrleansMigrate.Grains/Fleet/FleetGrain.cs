using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Hosting;
using OrleansMigrate.Placement;

namespace OrleansMigrate.Fleet;

/// <summary>
/// The registry index and the coordinator of multi-grain changes. Requests are processed one at a
/// time (the grain is not reentrant), so the duplicate checks and the compensation on failure see a
/// stable fleet. Host ids are kept here; VM ids are kept in the <see cref="VmIndexShards.Count"/>
/// <see cref="IVmIndexGrain"/> shards, which only this grain changes, so a VM create or delete writes
/// one small shard row instead of the whole index.
/// </summary>
[ControlPlanePlacement]
public sealed partial class FleetGrain(
    [PersistentState("fleet", StorageNames.Fleet)] IPersistentState<FleetGrainState> state,
    ILogger<FleetGrain> logger) : Grain, IFleetGrain
{
    /// <summary>Moves a VM index stored by an older version (<see cref="FleetGrainState.VmIds"/>) into the shards.</summary>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!state.State.VmIds.IsEmpty)
        {
            await MoveLegacyVmIndexAsync();
        }
    }

    public async Task<HostRecord> AddHostAsync(HostSpec spec)
    {
        FleetValidation.ValidateHost(spec);
        if (state.State.HostIds.Contains(spec.HostId))
        {
            throw OmigException.Conflict("host_id", $"host '{spec.HostId}' is already registered");
        }

        var record = await GrainFactory.GetGrain<IHostGrain>(spec.HostId).RegisterAsync(spec);
        await UpdateIndexAsync(s => s.HostIds = s.HostIds.Add(spec.HostId));
        return record;
    }

    public async Task RemoveHostAsync(string hostId)
    {
        FleetValidation.RequireId("host_id", hostId);
        if (!state.State.HostIds.Contains(hostId))
        {
            throw OmigException.NotFound("host_id", $"host '{hostId}' is not registered");
        }

        await GrainFactory.GetGrain<IHostGrain>(hostId).UnregisterAsync();
        await UpdateIndexAsync(s => s.HostIds = s.HostIds.Remove(hostId));
    }

    public async Task<ImmutableArray<HostRecord>> ListHostsAsync()
    {
        var records = await Task.WhenAll(state.State.HostIds.Select(id => GrainFactory.GetGrain<IHostGrain>(id).GetAsync()));
        return [.. records.OfType<HostRecord>()];
    }

    public async Task<VmRecord> CreateVmAsync(VmSpec spec, string hostId)
    {
        FleetValidation.ValidateVm(spec);
        FleetValidation.RequireId("host", hostId);
        var index = IndexOf(spec.VmId);
        if (await index.ContainsAsync(spec.VmId))
        {
            throw OmigException.Conflict("vm_id", $"VM '{spec.VmId}' already exists");
        }

        if (!state.State.HostIds.Contains(hostId))
        {
            throw OmigException.NotFound("host", $"host '{hostId}' is not registered");
        }

        await CheckDisksAndAddressesFreeAsync(spec);

        // Each step registers its (idempotent) undo before it runs, so a step that times out but took
        // effect is still undone; a failure anywhere undoes everything, newest first, and a refused or
        // failed create leaves the fleet exactly as it was.
        var undo = new Stack<Func<Task>>();
        try
        {
            var host = GrainFactory.GetGrain<IHostGrain>(hostId);
            undo.Push(() => host.RemoveVmAsync(spec.VmId));
            await host.PlaceVmAsync(spec);

            var vm = GrainFactory.GetGrain<IVmGrain>(spec.VmId);
            undo.Push(vm.DeleteAsync);
            var record = await vm.CreateAsync(spec, hostId);

            foreach (var disk in spec.Disks)
            {
                var grain = GrainFactory.GetGrain<ICloudDiskGrain>(disk.DiskId);
                undo.Push(() => grain.DeleteAsync(spec.VmId));
                await grain.CreateAsync(disk, spec.VmId, hostId);
            }

            foreach (var nic in spec.Nics)
            {
                var table = GrainFactory.GetGrain<IVpcFlowTableGrain>(nic.VpcId);
                undo.Push(() => table.RemoveFlowAsync(nic.Ip, spec.VmId));
                await table.AddFlowAsync(new FlowEntry(nic.Ip, nic.Mac, spec.VmId, hostId));
            }

            var agent = GrainFactory.GetGrain<IHostAgentGrain>(hostId);
            undo.Push(() => agent.DestroyVmAsync(spec.VmId));
            await agent.StartVmAsync(spec);

            // The index entry is the commit point: until it is written, the VM does not exist.
            undo.Push(() => index.RemoveAsync(spec.VmId));
            await index.AddAsync(spec.VmId);
            return record;
        }
        catch (Exception ex)
        {
            LogCreateUndone(logger, spec.VmId, hostId, ex.Message);
            await UndoAsync(undo);
            throw;
        }
    }

    public async Task DeleteVmAsync(string vmId)
    {
        FleetValidation.RequireId("vm_id", vmId);
        var index = IndexOf(vmId);
        if (!await index.ContainsAsync(vmId))
        {
            throw OmigException.NotFound("vm_id", $"VM '{vmId}' does not exist");
        }

        var open = await GrainFactory.GetGrain<Migration.IMigrationSchedulerGrain>(Migration.IMigrationSchedulerGrain.Key).ListAsync(includeEnded: false);
        if (open.FirstOrDefault(m => m.Request.VmId == vmId) is { } migrating)
        {
            throw OmigException.Conflict("vm_id", $"VM '{vmId}' is being migrated by {migrating.MigrationId}: cancel it or wait for it to end");
        }

        var vm = GrainFactory.GetGrain<IVmGrain>(vmId);
        if (await vm.GetAsync() is { } record)
        {
            // The hypervisor goes first: if the host agent is unreachable, nothing is removed and the
            // caller is told why, rather than leaving a VM running that the registry no longer knows.
            await GrainFactory.GetGrain<IHostAgentGrain>(record.HostId).DestroyVmAsync(vmId);
            foreach (var nic in record.Spec.Nics)
            {
                await GrainFactory.GetGrain<IVpcFlowTableGrain>(nic.VpcId).RemoveFlowAsync(nic.Ip, vmId);
            }

            foreach (var disk in record.Spec.Disks)
            {
                await GrainFactory.GetGrain<ICloudDiskGrain>(disk.DiskId).DeleteAsync(vmId);
            }

            await GrainFactory.GetGrain<IHostGrain>(record.HostId).RemoveVmAsync(vmId);
            await vm.DeleteAsync();
        }

        await index.RemoveAsync(vmId);
    }

    public async Task<ImmutableArray<VmRecord>> ListVmsAsync()
    {
        var shards = await Task.WhenAll(VmIndexShards.AllKeys().Select(key => GrainFactory.GetGrain<IVmIndexGrain>(key).ListAsync()));

        // In id order, as when one sorted set held them all.
        var ids = ImmutableSortedSet.CreateRange(shards.SelectMany(s => s));
        var records = await Task.WhenAll(ids.Select(id => GrainFactory.GetGrain<IVmGrain>(id).GetAsync()));
        return [.. records.OfType<VmRecord>()];
    }

    private IVmIndexGrain IndexOf(string vmId) => GrainFactory.GetGrain<IVmIndexGrain>(VmIndexShards.KeyFor(vmId));

    /// <summary>
    /// Adds the legacy ids to their shards, then clears them here. Safe to repeat after a crash at any
    /// point: adding an id a shard already holds changes nothing, and the ids stay here until every
    /// shard has written them.
    /// </summary>
    private async Task MoveLegacyVmIndexAsync()
    {
        var legacy = state.State.VmIds;
        await Task.WhenAll(legacy
            .GroupBy(VmIndexShards.KeyFor, StringComparer.Ordinal)
            .Select(g => GrainFactory.GetGrain<IVmIndexGrain>(g.Key).AddManyAsync([.. g])));
        await UpdateIndexAsync(s => s.VmIds = ImmutableSortedSet<string>.Empty);
        LogLegacyIndexMoved(logger, legacy.Count);
    }

    private async Task CheckDisksAndAddressesFreeAsync(VmSpec spec)
    {
        for (var i = 0; i < spec.Disks.Length; i++)
        {
            if (await GrainFactory.GetGrain<ICloudDiskGrain>(spec.Disks[i].DiskId).GetAsync() is { } disk)
            {
                throw OmigException.Conflict($"disks[{i}].id", $"disk '{disk.DiskId}' already exists (used by VM '{disk.VmId}')");
            }
        }

        for (var i = 0; i < spec.Nics.Length; i++)
        {
            var nic = spec.Nics[i];
            var table = await GrainFactory.GetGrain<IVpcFlowTableGrain>(nic.VpcId).GetAsync();
            if (table.Flows.TryGetValue(nic.Ip, out var flow))
            {
                throw OmigException.Conflict($"nics[{i}].ip", $"'{nic.Ip}' in VPC '{nic.VpcId}' belongs to VM '{flow.VmId}'");
            }
        }
    }

    private async Task UndoAsync(Stack<Func<Task>> undo)
    {
        while (undo.TryPop(out var step))
        {
            try
            {
                await step();
            }
            catch (Exception ex)
            {
                LogUndoFailed(logger, ex);
            }
        }
    }

    private async Task UpdateIndexAsync(Action<FleetGrainState> change)
    {
        var before = (state.State.HostIds, state.State.VmIds);
        change(state.State);
        await state.WriteOrRevertAsync(() => (state.State.HostIds, state.State.VmIds) = before);
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Creating VM {VmId} on {HostId} failed ({Reason}); undoing the steps taken")]
    private static partial void LogCreateUndone(ILogger logger, string vmId, string hostId, string reason);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "An undo step of a failed VM create failed")]
    private static partial void LogUndoFailed(ILogger logger, Exception ex);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Moved {Count} VM ids from the stored fleet index into the VM index shards")]
    private static partial void LogLegacyIndexMoved(ILogger logger, int count);
}
