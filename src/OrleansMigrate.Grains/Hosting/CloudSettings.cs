namespace OrleansMigrate.Hosting;

/// <summary>The cloud backends of a silo (<c>Omig:Cloud:*</c>).</summary>
public sealed class CloudSettings
{
    /// <summary>The VPC's network manager (<c>Omig:Cloud:Network:*</c>).</summary>
    public CloudNetworkSettings Network { get; set; } = new();
}
