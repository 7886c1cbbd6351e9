using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Concurrency;
using Orleans.Storage;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// The registry index and the coordinator of multi-grain changes. Requests interleave ([Reentrant]), so VM creates run
/// concurrently; each change first claims (<see cref="ClaimSet"/>) every name its checks and steps depend on — the VM
/// id, the host, each disk id, each VPC address — so the duplicate checks and the compensation on failure of one change
/// see a fleet no concurrent change touches in those names, exactly as when requests ran one at a time. Host ids are
/// kept here in <see cref="HostBuckets"/> rows (<see cref="IdBuckets"/>, state names <c>fleet-hosts-b00</c> …), so a
/// host add writes about 1/64 of them; VM ids are kept in the <see cref="VmIndexShards.Count"/>
/// <see cref="IVmIndexGrain"/> shards, which only this grain changes.
/// </summary>
[ControlPlanePlacement]
[Reentrant]
public sealed partial class FleetGrain(
    [PersistentState("fleet", StorageNames.Fleet)] IPersistentState<FleetGrainState> state,
    ILogger<FleetGrain> logger) : Grain, IFleetGrain
{
    /// <summary>Rows of the host-id set. Stored rows depend on it (and on <see cref="IdBuckets.BucketOf"/>): never change it.</summary>
    public const int HostBuckets = 64;

    /// <summary>The state-name prefix of the host-id rows.</summary>
    public const string HostRowPrefix = "fleet-hosts";

    /// <summary>The most VM records <see cref="ListVmsAsync"/> reads at once.</summary>
    private const int ListConcurrency = 64;

    private readonly ClaimSet _claims = new();
    private IdBuckets _hosts = null!;

    /// <summary>
    /// Reads the host-id rows; then moves an index stored by an older version in the one-row layout
    /// (<see cref="FleetGrainState"/>: host ids, and before that VM ids) into the rows and the VM index shards, and
    /// clears it. Safe to repeat after a crash at any point: adding an id that is held changes nothing, and the old row
    /// is cleared only after everything in it has been written to its new place.
    /// </summary>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _hosts = new IdBuckets(ServiceProvider.GetRequiredKeyedService<IGrainStorage>(StorageNames.Fleet), this.GetGrainId(), HostRowPrefix, HostBuckets);
        await _hosts.LoadAsync();
        var legacyHosts = state.State.HostIds;
        var legacyVms = state.State.VmIds;
        if (legacyHosts.IsEmpty && legacyVms.IsEmpty)
        {
            return;
        }

        await _hosts.AddAsync(legacyHosts);
        await Task.WhenAll(legacyVms
            .GroupBy(VmIndexShards.KeyFor, StringComparer.Ordinal)
            .Select(g => GrainFactory.GetGrain<IVmIndexGrain>(g.Key).AddManyAsync([.. g])));
        state.State.HostIds = ImmutableSortedSet<string>.Empty;
        state.State.VmIds = ImmutableSortedSet<string>.Empty;
        await state.WriteOrRevertAsync(() => (state.State.HostIds, state.State.VmIds) = (legacyHosts, legacyVms));
        LogLegacyIndexMoved(logger, legacyHosts.Count, legacyVms.Count);
    }

    public async Task<HostRecord> AddHostAsync(HostSpec spec)
    {
        FleetValidation.ValidateHost(spec);
        using var claim = await _claims.AcquireAsync([HostClaim(spec.HostId)]);
        if (_hosts.Ids.Contains(spec.HostId))
        {
            throw OmigException.Conflict("host_id", $"host '{spec.HostId}' is already registered");
        }

        var record = await GrainFactory.GetGrain<IHostGrain>(spec.HostId).RegisterAsync(spec);
        await _hosts.AddAsync([spec.HostId]);
        return record;
    }

    public async Task RemoveHostAsync(string hostId)
    {
        FleetValidation.RequireId("host_id", hostId);
        using var claim = await _claims.AcquireAsync([HostClaim(hostId)]);
        if (!_hosts.Ids.Contains(hostId))
        {
            throw OmigException.NotFound("host_id", $"host '{hostId}' is not registered");
        }

        await GrainFactory.GetGrain<IHostGrain>(hostId).UnregisterAsync();
        await _hosts.RemoveAsync([hostId]);
    }

    public Task<ImmutableArray<string>> ListHostIdsAsync() => Task.FromResult(_hosts.Ids.ToImmutableArray());

    public async Task<ImmutableArray<HostRecord>> ListHostsAsync()
    {
        var records = await Task.WhenAll(_hosts.Ids.Select(id => GrainFactory.GetGrain<IHostGrain>(id).GetAsync()));
        return [.. records.OfType<HostRecord>()];
    }

    public async Task<VmRecord> CreateVmAsync(VmSpec spec, string hostId)
    {
        FleetValidation.ValidateVm(spec);
        FleetValidation.RequireId("host", hostId);

        // Everything the checks below rely on, held until the create is done or undone.
        using var claim = await _claims.AcquireAsync(CreateClaims(spec, hostId));
        var index = IndexOf(spec.VmId);
        if (await index.ContainsAsync(spec.VmId))
        {
            throw OmigException.Conflict("vm_id", $"VM '{spec.VmId}' already exists");
        }

        if (!_hosts.Ids.Contains(hostId))
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
        using var claim = await _claims.AcquireAsync([VmClaim(vmId)]);
        var index = IndexOf(vmId);
        if (!await index.ContainsAsync(vmId))
        {
            throw OmigException.NotFound("vm_id", $"VM '{vmId}' does not exist");
        }

        var open = await new OrleansMigrate.Migration.SchedulerRouter(GrainFactory).ListAsync(includeEnded: false);
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

    public Task<ImmutableArray<VmRecord>> ListVmsAsync() => VmIndexReader.ReadAllAsync(GrainFactory, ListConcurrency);

    private IVmIndexGrain IndexOf(string vmId) => GrainFactory.GetGrain<IVmIndexGrain>(VmIndexShards.KeyFor(vmId));

    private static string HostClaim(string hostId) => "host:" + hostId;

    private static string VmClaim(string vmId) => "vm:" + vmId;

    /// <summary>The VM id, its host (so the host cannot be removed under the create), and every disk and address it takes.</summary>
    private static IEnumerable<string> CreateClaims(VmSpec spec, string hostId) =>
        [VmClaim(spec.VmId), HostClaim(hostId), .. spec.Disks.Select(d => "disk:" + d.DiskId), .. spec.Nics.Select(n => $"ip:{n.VpcId}/{n.Ip}")];

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

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Creating VM {VmId} on {HostId} failed ({Reason}); undoing the steps taken")]
    private static partial void LogCreateUndone(ILogger logger, string vmId, string hostId, string reason);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "An undo step of a failed VM create failed")]
    private static partial void LogUndoFailed(ILogger logger, Exception ex);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Moved {Hosts} host ids and {Vms} VM ids from the stored one-row fleet index into the host-id rows and the VM index shards")]
    private static partial void LogLegacyIndexMoved(ILogger logger, int hosts, int vms);
}
