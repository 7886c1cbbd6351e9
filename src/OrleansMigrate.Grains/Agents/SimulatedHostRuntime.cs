using System.Collections.Concurrent;
using System.Collections.Immutable;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Agents;

/// <summary>The simulated hypervisor of the hosts this silo serves.</summary>
public sealed class SimulatedHostRuntime : IHostRuntime
{
    private readonly ConcurrentDictionary<(string Host, string Vm), VmSpec> _vms = new();

    public string DriverName => "simulated";

    public ImmutableArray<string> RunningVms(string hostId) =>
        [.. _vms.Keys.Where(k => k.Host == hostId).Select(k => k.Vm).Order(StringComparer.Ordinal)];

    public Task StartVmAsync(string hostId, VmSpec spec)
    {
        _vms.TryAdd((hostId, spec.VmId), spec);
        return Task.CompletedTask;
    }

    public Task DestroyVmAsync(string hostId, string vmId)
    {
        _vms.TryRemove((hostId, vmId), out _);
        return Task.CompletedTask;
    }
}
