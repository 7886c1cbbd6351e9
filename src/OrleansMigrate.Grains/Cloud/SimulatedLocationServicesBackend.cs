using System.Collections.Concurrent;
using OrleansMigrate.Grains.Faults;

namespace OrleansMigrate.Grains.Cloud;

/// <summary>Records each location hint (VM → host) as the services would, so tests and the auditor can read where services think a VM is.</summary>
public sealed class SimulatedLocationServicesBackend(IFaultInjector faults) : ILocationServicesBackend
{
    private readonly ConcurrentDictionary<string, string> _location = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _applied = new(StringComparer.Ordinal);

    /// <summary>The host the location-bound services place <paramref name="vmId"/> on, or null if never told.</summary>
    public string? LocationOf(string vmId) => _location.TryGetValue(vmId, out var host) ? host : null;

    public async Task NotifyMovedAsync(string migrationId, string vmId, string fromHost, string toHost, CancellationToken cancellationToken = default)
    {
        await faults.BeforeAsync(FaultSteps.ServicesNotify, vmId, cancellationToken);
        if (_applied.TryAdd(migrationId, true))
        {
            _location[vmId] = toHost;
        }
    }
}
