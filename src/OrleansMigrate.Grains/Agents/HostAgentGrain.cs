using System.Collections.Immutable;
using OrleansMigrate.Fleet;
using OrleansMigrate.Hosting;
using OrleansMigrate.Placement;

namespace OrleansMigrate.Agents;

/// <summary>The agent of one hypervisor host, pinned to the silo that serves it.</summary>
[HostPinnedPlacement]
public sealed class HostAgentGrain(ILocalSiloDetails silo, IHostRuntime runtime) : Grain, IHostAgentGrain
{
    private string HostId => this.GetPrimaryKeyString();

    public Task<HostAgentInfo> GetInfoAsync() =>
        Task.FromResult(new HostAgentInfo(HostId, silo.Name, silo.SiloAddress.ToParsableString(), Environment.ProcessId,
            runtime.DriverName, runtime.RunningVms(HostId)));

    public Task StartVmAsync(VmSpec spec) => runtime.StartVmAsync(HostId, spec);

    public Task DestroyVmAsync(string vmId) => runtime.DestroyVmAsync(HostId, vmId);
}
