using OrleansMigrate.Grains.Cloud.Linux;

namespace OrleansMigrate.Grains.Hosting;

/// <summary>Which network manager the VPC grains act through (<c>Omig:Cloud:Network:Backend</c>).</summary>
public sealed class CloudNetworkSettings
{
    /// <summary><c>simulated</c> (default: in memory, configured latencies) or <c>linux</c> (routes and rules in the lab's
    /// namespaces, measured latencies; see <see cref="LinuxNetworkManagerBackend"/>).</summary>
    public string Backend { get; set; } = "simulated";

    /// <summary>Where the <c>linux</c> backend finds the VPC (<c>Omig:Cloud:Network:Linux:*</c>).</summary>
    public LinuxNetworkOptions Linux { get; set; } = new();

    public bool IsLinux => Backend.Trim().Equals("linux", StringComparison.OrdinalIgnoreCase);

    /// <summary>Every setting at fault, named by its key.</summary>
    public List<string> Check()
    {
        if (Backend.Trim().ToLowerInvariant() is not ("simulated" or "linux"))
        {
            return [$"Omig:Cloud:Network:Backend: '{Backend}' is not one of simulated, linux"];
        }

        return IsLinux ? Linux.Check() : [];
    }
}
