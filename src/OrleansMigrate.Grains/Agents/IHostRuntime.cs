using System.Collections.Immutable;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Agents;

/// <summary>
/// The hypervisor side of the host agents on this silo: one per silo process, shared by the agents of
/// every host the silo serves. It outlives agent activations, as a hypervisor outlives its agent.
/// </summary>
public interface IHostRuntime
{
    string DriverName { get; }

    ImmutableArray<string> RunningVms(string hostId);

    Task StartVmAsync(string hostId, VmSpec spec);

    Task DestroyVmAsync(string hostId, string vmId);
}
