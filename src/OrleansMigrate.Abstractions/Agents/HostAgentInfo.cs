using System.Collections.Immutable;

namespace OrleansMigrate.Agents;

/// <summary>What a host agent reports about itself and the VMs its hypervisor runs.</summary>
/// <param name="SiloName">The silo this agent is pinned to.</param>
/// <param name="ProcessId">The OS process of that silo.</param>
/// <param name="Driver">Hypervisor backend: <c>simulated</c> or <c>qemu</c>.</param>
/// <param name="RunningVms">VM ids the hypervisor on this host is running right now.</param>
[GenerateSerializer, Immutable]
[Alias("omig.HostAgentInfo")]
public sealed record HostAgentInfo(
    [property: Id(0)] string HostId,
    [property: Id(1)] string SiloName,
    [property: Id(2)] string SiloAddress,
    [property: Id(3)] int ProcessId,
    [property: Id(4)] string Driver,
    [property: Id(5)] ImmutableArray<string> RunningVms);
