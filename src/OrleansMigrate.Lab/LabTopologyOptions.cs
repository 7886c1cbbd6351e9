using System.Net;

namespace OrleansMigrate.Lab;

/// <summary>What <see cref="LabTopology"/> builds. Defaults follow the lab conventions: prefix <c>oml</c>, two hosts,
/// underlay 10.77.0.0/24, transit 10.78.0.0/24 on VNI 100, VM gateway 172.30.0.1. Checked by <see cref="Check"/>.</summary>
public sealed class LabTopologyOptions
{
    /// <summary>Upper bound of <see cref="Hosts"/>.</summary>
    public const int MaxHosts = 50;

    /// <summary>Name prefix of every namespace and root-namespace link the lab makes (see <see cref="LabConventions.IsValidPrefix"/>).</summary>
    public string Prefix { get; set; } = LabConventions.DefaultPrefix;

    /// <summary>Number of hypervisor host namespaces <c>{prefix}-h1..hN</c>, 1–<see cref="MaxHosts"/>; default 2.</summary>
    public int Hosts { get; set; } = 2;

    /// <summary>Whether to make the storage namespace <c>{prefix}-st</c>; default true.</summary>
    public bool Storage { get; set; } = true;

    /// <summary>The underlay /24 (root .1, storage .2, client .3, host i .10+i); default 10.77.0.0/24. A second lab on one
    /// machine needs its own, or the root namespace holds two routes to one subnet.</summary>
    public string Underlay { get; set; } = "10.77.0.0/24";

    /// <summary>The VPC's transit /24 on the VXLAN devices (client .3, host i .10+i); default 10.78.0.0/24.</summary>
    public string Transit { get; set; } = "10.78.0.0/24";

    /// <summary>VXLAN network identifier of the VPC, 1–16777215; default 100. The device is <c>vx{vni}</c>.</summary>
    public int Vni { get; set; } = LabConventions.DefaultVni;

    /// <summary>The VMs' gateway, answered by every host on its taps; default 172.30.0.1.</summary>
    public string VmGateway { get; set; } = LabConventions.DefaultVmGateway;

    /// <summary>TCP ports a new connection to a VM may open (SYN only); default 7008.</summary>
    public IList<int> GuestTcpPorts { get; set; } = [LabConventions.GuestTcpStreamPort];

    /// <summary>UDP ports a new flow to a VM may open; default 7007.</summary>
    public IList<int> GuestUdpPorts { get; set; } = [LabConventions.GuestUdpEchoPort];

    /// <summary>Directory of the state file <c>{prefix}.lab.json</c> (what was made, recorded PIDs); default
    /// <c>$TMPDIR/omig-lab</c>.</summary>
    public string StateDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "omig-lab");

    /// <summary>Every option at fault, one message each (empty: valid).</summary>
    public List<string> Check()
    {
        var errors = new List<string>();
        if (!LabConventions.IsValidPrefix(Prefix))
            errors.Add($"prefix: '{Prefix}' must be 2-8 characters, a lower-case letter then lower-case letters and digits");
        if (Hosts is < 1 or > MaxHosts)
            errors.Add($"hosts: must be between 1 and {MaxHosts}, got {Hosts}");
        if (!TryParse24(Underlay, out _))
            errors.Add($"underlay: '{Underlay}' is not an IPv4 /24 network such as 10.77.0.0/24");
        if (!TryParse24(Transit, out _))
            errors.Add($"transit: '{Transit}' is not an IPv4 /24 network such as 10.78.0.0/24");
        if (Vni is < 1 or > 16_777_215)
            errors.Add($"vni: must be between 1 and 16777215, got {Vni}");
        if (!IPAddress.TryParse(VmGateway, out var gateway) || gateway.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            errors.Add($"vm_gateway: '{VmGateway}' is not an IPv4 address");
        if (GuestTcpPorts.Concat(GuestUdpPorts).FirstOrDefault(p => p is < 1 or > 65535) is var bad and not 0)
            errors.Add($"guest ports: {bad} is not a port (1-65535)");
        if (string.IsNullOrWhiteSpace(StateDirectory))
            errors.Add("state_directory: required");
        return errors;
    }

    /// <summary>The first three octets of a /24 (<c>10.77.0</c> of <c>10.77.0.0/24</c>).</summary>
    internal static bool TryParse24(string? cidr, out string network)
    {
        network = string.Empty;
        var parts = cidr?.Split('/');
        if (parts is not [var address, "24"] || !IPAddress.TryParse(address, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            return false;
        var bytes = ip.GetAddressBytes();
        if (bytes[3] != 0)
            return false;
        network = $"{bytes[0]}.{bytes[1]}.{bytes[2]}";
        return true;
    }
}
