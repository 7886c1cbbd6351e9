using System.Net;
using System.Security.Cryptography;
using System.Text;
using OrleansMigrate.Hypervisor.Linux;

namespace OrleansMigrate.Lab;

/// <summary>
/// A VM NIC attached to its host, routed (the kernel has no bridge netfilter here, so only routed traffic passes the
/// host's conntrack and firewall): a tap carrying the VPC gateway's MAC (<see cref="LabConventions.VmGatewayMac"/>, the
/// same on every host) <c>t&lt;short-id&gt;</c> in the host's namespace that QEMU opens by name
/// (<c>-netdev tap,ifname=…,script=no,downscript=no</c>), with proxy ARP, the VM gateway on the host's loopback (so the
/// guest's ARP for it is answered on the tap), the NIC recorded as <c>VMIP/32 dev tap</c> in
/// <see cref="LabConventions.VmNicTable"/> (what overlay traffic for the VM is delivered by), and — when the host has no
/// flow for the VM's IP yet — the same /32 in the main table. A destination host attached at a migration's prepare keeps
/// its main-table flow to the source until the flows are installed on it.
/// </summary>
public static class VmNicAttachment
{
    /// <summary>The tap of NIC <paramref name="nicIndex"/> of <paramref name="vmId"/>: <c>t</c> and 10 hex digits of a hash
    /// of both (11 characters, inside the kernel's 15).</summary>
    public static string TapName(string vmId, int nicIndex = 0)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(vmId);
        ArgumentOutOfRangeException.ThrowIfNegative(nicIndex);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{vmId}/{nicIndex}"));
        return "t" + Convert.ToHexStringLower(hash)[..10];
    }

    /// <summary>Whether <paramref name="name"/> is a tap name the firewall treats as a VM's: <c>t</c> then 1–14 lower-case
    /// letters or digits.</summary>
    public static bool IsTapName(string? name) =>
        name is { Length: >= 2 and <= 15 } && name[0] == 't' && name.Skip(1).All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c));

    /// <summary>Attaches the NIC with IP <paramref name="vmIp"/> as tap <paramref name="tap"/> in <paramref name="netns"/>
    /// (null: this process's namespace, as a host silo running inside its host's namespace calls it). Creates the tap when
    /// no link of that name exists; an existing link (a tap made earlier, a veth standing in for a VM) is configured as it
    /// is. Idempotent.</summary>
    public static async Task AttachAsync(string? netns, string tap, string vmIp, string vmGateway = LabConventions.DefaultVmGateway,
        CancellationToken cancellationToken = default)
    {
        Require(tap, vmIp);
        if (!IPAddress.TryParse(vmGateway, out _))
            throw new ArgumentException($"vm_gateway: '{vmGateway}' is not an IP address", nameof(vmGateway));
        if (!await Ip.LinkExistsAsync(netns, tap, cancellationToken).ConfigureAwait(false))
            await Ip.RunIdempotentAsync(netns, ["tuntap", "add", "dev", tap, "mode", "tap"], ["exists"], cancellationToken).ConfigureAwait(false);
        await Ip.RunAsync(netns, ["link", "set", "dev", tap, "address", LabConventions.VmGatewayMac, "up"], cancellationToken).ConfigureAwait(false);
        await HostCommand.RunAsync("sysctl", ["-qw", $"net.ipv4.conf.{tap}.proxy_arp=1", $"net.ipv4.conf.{tap}.send_redirects=0"], netns, cancellationToken: cancellationToken).ConfigureAwait(false);
        await Ip.RunAsync(netns, ["addr", "replace", vmGateway + "/32", "dev", "lo"], cancellationToken).ConfigureAwait(false);
        await Ip.RunAsync(netns, ["route", "replace", vmIp + "/32", "dev", tap, "table", Table(LabConventions.VmNicTable)], cancellationToken).ConfigureAwait(false);
        await Ip.RunIdempotentAsync(netns, ["route", "add", vmIp + "/32", "dev", tap], ["File exists"], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Detaches the NIC: deletes link <paramref name="tap"/> (its routes go with it). No effect when it is gone.</summary>
    public static async Task DetachAsync(string? netns, string tap, CancellationToken cancellationToken = default)
    {
        if (!IsTapName(tap))
            throw new ArgumentException($"tap: '{tap}' is not a VM tap name (t then 1-14 lower-case letters or digits)", nameof(tap));
        if (await Ip.LinkExistsAsync(netns, tap, cancellationToken).ConfigureAwait(false))
            await Ip.RunIdempotentAsync(netns, ["link", "del", "dev", tap], ["Cannot find device"], cancellationToken).ConfigureAwait(false);
    }

    private static void Require(string tap, string vmIp)
    {
        if (!IsTapName(tap))
            throw new ArgumentException($"tap: '{tap}' is not a VM tap name (t then 1-14 lower-case letters or digits)", nameof(tap));
        if (!IPAddress.TryParse(vmIp, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new ArgumentException($"vm_ip: '{vmIp}' is not an IPv4 address", nameof(vmIp));
    }

    private static string Table(int table) => table.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
