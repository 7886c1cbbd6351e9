using System.Collections.Immutable;
using Orleans.Concurrency;

namespace OrleansMigrate.Fleet;

/// <summary>
/// The fleet registry: the index of hosts and VMs and the entry point for changes that touch several
/// grains (creating a VM reserves host capacity, creates its disks and VPC flows and starts it on the
/// host's agent). One activation per cluster, key <see cref="Key"/>. Every refused request changes nothing.
/// </summary>
[Alias("omig.IFleetGrain")]
public interface IFleetGrain : IGrainWithStringKey
{
    const string Key = "fleet";

    [Alias("AddHost")]
    Task<HostRecord> AddHostAsync(HostSpec spec);

    /// <summary>Removes an empty host; refused while VMs or reservations are on it.</summary>
    [Alias("RemoveHost")]
    Task RemoveHostAsync(string hostId);

    /// <remarks>Reads a snapshot; interleaves with a slow create so listing never waits on a dead host.</remarks>
    [AlwaysInterleave]
    [Alias("ListHosts")]
    Task<ImmutableArray<HostRecord>> ListHostsAsync();

    /// <summary>The registered host ids (no host is asked).</summary>
    [AlwaysInterleave]
    [Alias("ListHostIds")]
    Task<ImmutableArray<string>> ListHostIdsAsync();

    /// <summary>Creates the VM on <paramref name="hostId"/>: capacity reserved, disks attached read-write
    /// there (fencing generation 1), flows installed, VM started by the host agent.</summary>
    [Alias("CreateVm")]
    Task<VmRecord> CreateVmAsync(VmSpec spec, string hostId);

    /// <summary>Stops the VM and removes it with its disks' attachments and flows; releases its capacity.</summary>
    [Alias("DeleteVm")]
    Task DeleteVmAsync(string vmId);

    /// <remarks>Reads a snapshot; interleaves with a slow create so listing never waits on a dead host.</remarks>
    [AlwaysInterleave]
    [Alias("ListVms")]
    Task<ImmutableArray<VmRecord>> ListVmsAsync();
}
