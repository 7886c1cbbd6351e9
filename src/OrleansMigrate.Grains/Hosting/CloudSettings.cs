namespace OrleansMigrate.Grains.Hosting;

/// <summary>The cloud backends of a silo (<c>Omig:Cloud:*</c>): each <c>simulated</c> by default, or the real Linux part.</summary>
public sealed class CloudSettings
{
    /// <summary>The block store of the cloud disks (<c>Omig:Cloud:Disk:*</c>: simulated | nbd).</summary>
    public Cloud.Nbd.CloudDiskSettings Disk { get; set; } = new();

    /// <summary>The VPC's network manager (<c>Omig:Cloud:Network:*</c>: simulated | linux).</summary>
    public CloudNetworkSettings Network { get; set; } = new();

    /// <summary>Where a host's VM session tables come from (<c>Omig:Cloud:Sessions:*</c>: simulated | conntrack); read by
    /// the host agents.</summary>
    public Hypervisor.Sessions.SessionsBackendOptions Sessions { get; set; } = new();
}
