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

    /// <summary>On a QEMU host silo: how a VM's NICs reach its guest. <c>none</c> (default): the guest gets no NIC;
    /// <c>tap</c>: every NIC of the registry VM is a routed tap on this host (<see cref="OrleansMigrate.Lab.VmNicAttachment"/>,
    /// in the silo's own network namespace — the lab runs a host's silo inside its host's namespace), made before QEMU
    /// starts and removed when the VM leaves the host.</summary>
    public string VmNics { get; set; } = "none";

    /// <summary>With <c>tap</c> NICs on QEMU: how long the source waits, relays on and guest still running, before it pauses
    /// the guest for a parallel switchover (0–1,000 ms; default 5): the packets already in the guest's tap reach the guest
    /// instead of dying with the source's QEMU.</summary>
    public int RelayLeadMs { get; set; } = 5;

    /// <summary>Whether <see cref="VmNics"/> is <c>tap</c>.</summary>
    public bool UsesTaps => string.Equals(VmNics?.Trim(), "tap", StringComparison.OrdinalIgnoreCase);

    /// <summary>Every setting at fault, named by its key.</summary>
    public List<string> Check()
    {
        if (Backend.Trim().ToLowerInvariant() is not ("simulated" or "linux"))
        {
            return [$"Omig:Cloud:Network:Backend: '{Backend}' is not one of simulated, linux"];
        }

        List<string> errors = IsLinux ? [.. Linux.Check()] : [];
        if (VmNics?.Trim().ToLowerInvariant() is not ("none" or "tap"))
        {
            errors.Insert(0, $"Omig:Cloud:Network:VmNics: '{VmNics}' is not one of none, tap");
        }

        if (RelayLeadMs is < 0 or > 1000)
        {
            errors.Add($"Omig:Cloud:Network:RelayLeadMs: {RelayLeadMs} is not between 0 and 1000");
        }

        return errors;
    }
}
