using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Connections.Security;
using OrleansMigrate.Agents;
using OrleansMigrate.Audit;
using OrleansMigrate.Cluster;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Client;

/// <summary>
/// The typed client that cloud API services embed. Validates requests before sending them (the grains
/// validate again), and turns grain errors into <see cref="OmigException"/> with the field and reason.
/// </summary>
public sealed partial class OmigClient : IAsyncDisposable
{
    private readonly IHost? _host;

    /// <summary>Wraps a grain factory the caller already has (an in-process silo, a test cluster).</summary>
    public OmigClient(IGrainFactory grains)
    {
        Grains = grains;
    }

    private OmigClient(IHost host)
    {
        _host = host;
        Grains = host.Services.GetRequiredService<IClusterClient>();
    }

    public IGrainFactory Grains { get; }

    private IFleetGrain Fleet => Grains.GetGrain<IFleetGrain>(IFleetGrain.Key);

    public Task<HostRecord> AddHostAsync(HostSpec spec)
    {
        FleetValidation.ValidateHost(spec);
        return Fleet.AddHostAsync(spec);
    }

    public Task<ImmutableArray<HostRecord>> ListHostsAsync() => Fleet.ListHostsAsync();

    public async Task<HostRecord> GetHostAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        return await Grains.GetGrain<IHostGrain>(hostId).GetAsync()
            ?? throw OmigException.NotFound("host", $"host '{hostId}' is not registered");
    }

    /// <summary>Replaces the devices a host offers; refused when a kind and model would drop under what its VMs and
    /// reservations hold.</summary>
    public async Task<HostRecord> SetHostDevicesAsync(string hostId, ImmutableArray<DeviceCount> devices)
    {
        FleetValidation.ValidateDevices("devices", devices, FleetValidation.MaxDeviceCount);
        await GetHostAsync(hostId);
        return await Grains.GetGrain<IHostGrain>(hostId).SetDevicesAsync(devices);
    }

    public async Task<HostRecord> CordonHostAsync(string hostId)
    {
        await GetHostAsync(hostId);
        return await Grains.GetGrain<IHostGrain>(hostId).SetSchedulingAsync(SchedulingState.Cordoned);
    }

    /// <summary>Lets new VMs onto a host again; refused while a drain of it runs (abort it first).</summary>
    public async Task<HostRecord> UncordonHostAsync(string hostId)
    {
        await GetHostAsync(hostId);
        if (await Grains.GetGrain<Operations.IHostDrainGrain>(hostId).GetAsync() is { IsEnded: false })
        {
            throw OmigException.Conflict("host", $"host '{hostId}' is being drained: abort the drain first (omig host drain {hostId} --abort)");
        }

        return await Grains.GetGrain<IHostGrain>(hostId).SetSchedulingAsync(SchedulingState.Schedulable);
    }

    public Task RemoveHostAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        return Fleet.RemoveHostAsync(hostId);
    }

    /// <summary>What the host's agent reports; fails with Unavailable when no live silo serves the host.</summary>
    public async Task<HostAgentInfo> GetHostAgentAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        return await AgentAsync(hostId, a => a.GetInfoAsync());
    }

    public Task<VmRecord> CreateVmAsync(VmSpec spec, string hostId)
    {
        FleetValidation.ValidateVm(spec);
        FleetValidation.RequireId("host", hostId);
        return Fleet.CreateVmAsync(spec, hostId);
    }

    public Task<ImmutableArray<VmRecord>> ListVmsAsync() => Fleet.ListVmsAsync();

    /// <summary>
    /// Every VM whose id sorts (ordinally) after <paramref name="after"/>, in ordinal id order, read <paramref name="batch"/>
    /// at a time: each step asks every index shard for its next <paramref name="batch"/> ids, merges them, and reads only
    /// the first <paramref name="batch"/> records. Unlike <see cref="ListVmsAsync"/> it never holds the fleet in memory, so
    /// an API page of 100 VMs out of 200,000 costs one step. A VM deleted between the index read and its record read is
    /// skipped.
    /// </summary>
    public async IAsyncEnumerable<VmRecord> ReadVmsAsync(string? after, int batch, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (batch is < 1 or > VmIndexShards.MaxPage)
        {
            throw OmigException.Invalid("limit", $"must be between 1 and {VmIndexShards.MaxPage}, got {batch}");
        }

        var shards = Enumerable.Range(0, VmIndexShards.Count).Select(i => Grains.GetGrain<IVmIndexGrain>(VmIndexShards.Key(i))).ToArray();
        for (var cursor = after; ;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var from = cursor;
            var pages = await Task.WhenAll(shards.Select(s => s.ListAfterAsync(from, batch)));

            // The first `batch` ids of the union of every shard's first `batch` are the fleet's first `batch` after the cursor.
            var ids = pages.SelectMany(p => p).Order(StringComparer.Ordinal).Take(batch).ToArray();
            if (ids.Length == 0)
            {
                yield break;
            }

            var records = await Task.WhenAll(ids.Select(id => Grains.GetGrain<IVmGrain>(id).GetAsync()));
            foreach (var record in records)
            {
                if (record is not null)
                {
                    yield return record;
                }
            }

            if (ids.Length < batch)
            {
                yield break;
            }

            cursor = ids[^1];
        }
    }

    public async Task<VmRecord> GetVmAsync(string vmId)
    {
        FleetValidation.RequireId("vm", vmId);
        return await Grains.GetGrain<IVmGrain>(vmId).GetAsync()
            ?? throw OmigException.NotFound("vm", $"VM '{vmId}' does not exist");
    }

    /// <summary>What the VM's host hypervisor says about it now: its state (<c>running</c>, <c>paused</c>, <c>lost</c>…, null when
    /// the hypervisor has no instance) and detail (QEMU: pid and run status, or how it died).</summary>
    public async Task<VmHypervisorView> GetVmHypervisorAsync(string vmId)
    {
        var vm = await GetVmAsync(vmId);
        return await AgentAsync(vm.HostId, async agent =>
        {
            var info = await agent.GetInfoAsync();
            var state = await agent.GetVmStateAsync(vmId);
            return new VmHypervisorView(vm.HostId, info.Driver, state is { } s ? Naming.EnumNames.Of(s) : null, await agent.GetVmDetailAsync(vmId));
        });
    }

    /// <summary>
    /// Passes one QMP command (JSON text, <c>{"execute": …, "arguments": {…}}</c>) to the VM's QEMU through the host
    /// agent that owns the monitor socket, and returns QEMU's reply as JSON. Only allow-listed commands pass.
    /// </summary>
    public const int MaxQmpCommandBytes = 16 * 1024;

    public async Task<string> QmpAsync(string vmId, string commandJson)
    {
        ArgumentNullException.ThrowIfNull(commandJson);
        if (commandJson.Length > MaxQmpCommandBytes)
        {
            throw OmigException.Invalid("command", $"the QMP command is over {MaxQmpCommandBytes} bytes");
        }

        var vm = await GetVmAsync(vmId);
        return await AgentAsync(vm.HostId, a => a.QmpAsync(vmId, commandJson));
    }

    /// <summary>A call to a host's agent; an agent that cannot be reached fails with Unavailable (field <c>host</c>) in our
    /// words (<see cref="AgentErrors"/>), never with Orleans' own message.</summary>
    private async Task<T> AgentAsync<T>(string hostId, Func<IHostAgentGrain, Task<T>> call)
    {
        try
        {
            return await call(Grains.GetGrain<IHostAgentGrain>(hostId));
        }
        catch (Exception ex) when (AgentErrors.IsUnreachable(ex) && ex is not OmigException)
        {
            throw AgentErrors.Unreachable(hostId, ex);
        }
    }

    /// <summary>
    /// Boots a VM that is <c>lost</c> (its hypervisor process died) or stopped, on the host the registry places it
    /// on, and records it running; for a VM left <c>unknown</c> by an unreachable agent, records it running once the
    /// agent answers (booting it only if the hypervisor has no instance). Refused while a migration of the VM is in
    /// flight, or when it runs already.
    /// </summary>
    public async Task<VmRecord> StartVmAsync(string vmId)
    {
        var vm = await GetVmAsync(vmId);
        if (vm.Power == PowerState.Running)
        {
            throw OmigException.Conflict("vm", $"VM '{vmId}' is running on '{vm.HostId}'");
        }

        if ((await ListMigrationsAsync(includeEnded: false)).FirstOrDefault(m => m.Request.VmId == vmId) is { } active)
        {
            throw OmigException.Conflict("vm", $"VM '{vmId}' has migration {active.MigrationId} in flight ({Naming.EnumNames.Of(active.Phase)})");
        }

        await AgentAsync(vm.HostId, async a =>
        {
            await a.StartVmAsync(vm.Spec);
            return true;
        });
        return await Grains.GetGrain<IVmGrain>(vmId).SetPowerAsync(PowerState.Running);
    }

    public Task DeleteVmAsync(string vmId)
    {
        FleetValidation.RequireId("vm", vmId);
        return Fleet.DeleteVmAsync(vmId);
    }

    public Task<CloudDiskRecord?> GetDiskAsync(string diskId)
    {
        FleetValidation.RequireId("disk", diskId);
        return Grains.GetGrain<ICloudDiskGrain>(diskId).GetAsync();
    }

    public Task<VpcFlowTable> GetVpcAsync(string vpcId)
    {
        FleetValidation.RequireId("vpc", vpcId);
        return Grains.GetGrain<IVpcFlowTableGrain>(vpcId).GetAsync();
    }

    /// <summary>The continuous invariant auditor's last report and counters (it runs on a control silo every
    /// <c>Omig:AuditIntervalSeconds</c>); <see cref="AuditorStatus.LastReport"/> is null before its first completed pass.</summary>
    public Task<AuditorStatus> GetAuditorStatusAsync() =>
        Grains.GetGrain<IInvariantAuditorGrain>(IInvariantAuditorGrain.Key).GetStatusAsync();

    public Task<ImmutableArray<SiloInfo>> GetSilosAsync(bool includeDead = false) =>
        Grains.GetGrain<IClusterStatusGrain>(0).GetSilosAsync(includeDead);

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            try
            {
                await _host.StopAsync(TimeSpan.FromSeconds(5));
            }
            finally
            {
                _host.Dispose();
            }
        }
    }
}

/// <summary>A VM as its host's hypervisor sees it.</summary>
/// <param name="HostId">The host the registry places the VM on.</param>
/// <param name="Driver">The host's hypervisor driver (<c>qemu</c>, <c>simulated</c>).</param>
/// <param name="State">The hypervisor's state of the VM, or null when it has no instance.</param>
/// <param name="Detail">QEMU: pid and run status, or how the process ended.</param>
public sealed record VmHypervisorView(string HostId, string Driver, string? State, string? Detail);
