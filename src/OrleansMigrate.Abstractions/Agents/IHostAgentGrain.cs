using OrleansMigrate.Fleet;

namespace OrleansMigrate.Agents;

/// <summary>
/// The agent on one hypervisor host (key: host id). Host-pinned: it activates only on the silo that
/// serves that host, because it drives that host's hypervisor; when no live silo serves the host a
/// call fails at once with <see cref="Errors.OmigErrorCode.Unavailable"/> instead of activating elsewhere.
/// </summary>
[Alias("omig.IHostAgentGrain")]
public interface IHostAgentGrain : IGrainWithStringKey
{
    [Alias("GetInfo")]
    Task<HostAgentInfo> GetInfoAsync();

    /// <summary>Boots the VM on this host's hypervisor. Idempotent.</summary>
    [Alias("StartVm")]
    Task StartVmAsync(VmSpec spec);

    /// <summary>Destroys the VM on this host's hypervisor. Idempotent.</summary>
    [Alias("DestroyVm")]
    Task DestroyVmAsync(string vmId);
}
