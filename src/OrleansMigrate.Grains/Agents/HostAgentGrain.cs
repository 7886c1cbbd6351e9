using OrleansMigrate.Fleet;
using OrleansMigrate.Placement;

namespace OrleansMigrate.Agents;

/// <summary>The agent of one hypervisor host, pinned to the silo that serves it.</summary>
[HostPinnedPlacement]
public sealed class HostAgentGrain(ILocalSiloDetails silo, IHostRuntime runtime) : Grain, IHostAgentGrain
{
    private string HostId => this.GetPrimaryKeyString();

    /// <summary>
    /// Reconciles the hypervisor with the registry when the agent (re)starts: a running VM the registry places on
    /// this host but the hypervisor does not run is booted, so a silo restart does not silently drop
    /// guests. The hypervisor is never told to stop a VM here; unknown guests are left for the operator.
    /// </summary>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (await GrainFactory.GetGrain<IHostGrain>(HostId).GetAsync() is not { } host)
        {
            return;
        }

        var running = runtime.RunningVms(HostId).ToHashSet(StringComparer.Ordinal);
        foreach (var vmId in host.Vms.Keys.Where(v => !running.Contains(v)))
        {
            if (await GrainFactory.GetGrain<IVmGrain>(vmId).GetAsync() is { Power: PowerState.Running } vm && vm.HostId == HostId)
            {
                await runtime.StartVmAsync(HostId, vm.Spec);
            }
        }
    }

    public Task<HostAgentInfo> GetInfoAsync() =>
        Task.FromResult(new HostAgentInfo(HostId, silo.Name, silo.SiloAddress.ToParsableString(), Environment.ProcessId,
            runtime.DriverName, runtime.RunningVms(HostId)));

    public Task StartVmAsync(VmSpec spec) => runtime.StartVmAsync(HostId, spec);

    public Task DestroyVmAsync(string vmId) => runtime.DestroyVmAsync(HostId, vmId);
}
