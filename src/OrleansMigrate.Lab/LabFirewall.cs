using System.Globalization;
using OrleansMigrate.Hypervisor.Linux;

namespace OrleansMigrate.Lab;

/// <summary>
/// The stateful firewall in front of a host's VMs: one nftables table <c>inet {prefix}</c> in the host namespace.
/// Its forward chain drops by default; traffic to a VM tap (<c>t*</c>) passes when conntrack knows its connection
/// (established, related), or as a new TCP connection that starts with a bare SYN to a guest port, or as a new UDP flow
/// to a guest UDP port; everything else to the VMs is dropped. Traffic that leaves by any other device (from the VMs,
/// and relayed traffic that comes in over the overlay and goes back out to the overlay) passes, tracked.
/// With <c>nf_conntrack_tcp_loose=0</c> (set by <see cref="ApplyAsync"/>) a mid-stream TCP packet without a conntrack
/// entry is invalid, not new: a VM that moves without its entries loses its open connections.
/// </summary>
public static class LabFirewall
{
    /// <summary>The nftables script: replaces the table atomically (one transaction), so applying it twice is a no-op.</summary>
    public static string Ruleset(string table, IEnumerable<int> tcpPorts, IEnumerable<int> udpPorts)
    {
        if (!LabConventions.IsValidPrefix(table))
            throw new ArgumentException($"'{table}' is not a lab prefix", nameof(table));
        static string Set(IEnumerable<int> ports) => string.Join(", ", ports.Distinct().Order().Select(p => p.ToString(CultureInfo.InvariantCulture)));
        var tcp = Set(tcpPorts);
        var udp = Set(udpPorts);
        return $$"""
            table inet {{table}}
            delete table inet {{table}}
            table inet {{table}} {
                chain forward {
                    type filter hook forward priority filter; policy drop;
                    oifname "t*" jump to_vm
                    oifname != "t*" accept
                }
                chain to_vm {
                    ct state established,related accept
            {{(tcp.Length > 0 ? $"        ct state new tcp flags & (fin|syn|rst|ack) == syn tcp dport {{ {tcp} }} accept\n" : string.Empty)}}{{(udp.Length > 0 ? $"        ct state new udp dport {{ {udp} }} accept\n" : string.Empty)}}        counter drop
                }
            }

            """;
    }

    /// <summary>Applies the firewall in <paramref name="netns"/> and turns loose TCP pickup off there.</summary>
    public static async Task ApplyAsync(string netns, string table, IEnumerable<int> tcpPorts, IEnumerable<int> udpPorts, CancellationToken cancellationToken = default)
    {
        await HostCommand.RunAsync("nft", ["-f", "-"], netns: netns, stdin: Ruleset(table, tcpPorts, udpPorts), cancellationToken: cancellationToken).ConfigureAwait(false);
        await HostCommand.RunAsync("sysctl", ["-qw", "net.netfilter.nf_conntrack_tcp_loose=0"], netns: netns, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Packets the firewall dropped on their way to VMs in <paramref name="netns"/> (the final rule's counter).</summary>
    public static async Task<long> DroppedPacketsAsync(string netns, string table, CancellationToken cancellationToken = default)
    {
        var result = await HostCommand.RunAsync("nft", ["list", "chain", "inet", table, "to_vm"], netns: netns, cancellationToken: cancellationToken).ConfigureAwait(false);
        var line = result.Stdout.Split('\n').FirstOrDefault(l => l.Contains("counter packets", StringComparison.Ordinal) && l.TrimEnd().EndsWith("drop", StringComparison.Ordinal));
        if (line is null)
            throw new InvalidOperationException($"the firewall table inet {table} in {netns} has no drop counter");
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return long.Parse(words[Array.IndexOf(words, "packets") + 1], CultureInfo.InvariantCulture);
    }
}
