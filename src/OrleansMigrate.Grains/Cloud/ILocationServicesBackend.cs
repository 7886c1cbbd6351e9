namespace OrleansMigrate.Grains.Cloud;

/// <summary>
/// Cloud services bound to a VM's location (per-host state such as DPDK flow hashing, security-group
/// caches, load-balancer back-end lists). After a migration commits they are told where the VM now runs,
/// so they move their per-VM state and do not break (the seed's "cloud services stay intact").
/// </summary>
public interface ILocationServicesBackend
{
    /// <summary>Tells every location-bound service that <paramref name="vmId"/> moved. Idempotent per migration.</summary>
    Task NotifyMovedAsync(string migrationId, string vmId, string fromHost, string toHost, CancellationToken cancellationToken = default);
}
