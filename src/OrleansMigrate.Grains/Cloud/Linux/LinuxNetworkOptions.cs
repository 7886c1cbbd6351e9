using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Lab;

namespace OrleansMigrate.Grains.Cloud.Linux;

/// <summary>
/// Where <see cref="LinuxNetworkManagerBackend"/> finds the VPC's members (<c>Omig:Cloud:Network:Linux:*</c>). Defaults
/// match the lab's conventions (<see cref="LabTopology"/>): host id <c>h1</c> runs in namespace <c>oml-h1</c>, the
/// gateway is <c>oml-cl</c>, every VPC rides VNI 100 (<c>vx100</c>). Checked by <see cref="Check"/> at silo start.
/// </summary>
public sealed class LinuxNetworkOptions
{
    /// <summary>The lab's prefix (see <see cref="LabConventions.IsValidPrefix"/>); default <c>oml</c>.</summary>
    public string Prefix { get; set; } = LabConventions.DefaultPrefix;

    /// <summary>Host id → namespace pattern with <c>{prefix}</c> and <c>{host}</c>; default <c>{prefix}-{host}</c>.</summary>
    public string Namespaces { get; set; } = "{prefix}-{host}";

    /// <summary>Explicit host id → namespace entries; they win over <see cref="Namespaces"/>.</summary>
    public Dictionary<string, string> HostNamespaces { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The host ids of the VPC's hosts (comma-separated). Empty (default): every namespace the pattern can name —
    /// <c>{prefix}-*</c> under <c>/run/netns</c>, except the gateway — that holds the VPC's VXLAN device, found at the
    /// first action.</summary>
    public string Hosts { get; set; } = string.Empty;

    /// <summary>The VPC gateway's namespace (the lab's client), pattern with <c>{prefix}</c>; default <c>{prefix}-cl</c>.</summary>
    public string Gateway { get; set; } = "{prefix}-cl";

    /// <summary>VPC id → VXLAN network identifier. Empty (default): every VPC rides <see cref="DefaultVni"/>; otherwise a
    /// VPC not listed is refused.</summary>
    public Dictionary<string, int> Vnis { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The VNI of every VPC when <see cref="Vnis"/> is empty; default 100.</summary>
    public int DefaultVni { get; set; } = LabConventions.DefaultVni;

    /// <summary>The namespace of host <paramref name="hostId"/>.</summary>
    public string NamespaceOf(string hostId) =>
        HostNamespaces.TryGetValue(hostId, out var ns) ? ns : Namespaces.Replace("{prefix}", Prefix, StringComparison.Ordinal).Replace("{host}", hostId, StringComparison.Ordinal);

    /// <summary>The gateway's namespace.</summary>
    public string GatewayNamespace => Gateway.Replace("{prefix}", Prefix, StringComparison.Ordinal);

    /// <summary>The configured host ids (empty: discover).</summary>
    public IReadOnlyList<string> HostList => [.. Hosts.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    /// <summary>Every option at fault, one message each, named by its configuration key.</summary>
    public List<string> Check()
    {
        const string Key = "Omig:Cloud:Network:Linux:";
        var errors = new List<string>();
        if (!LabConventions.IsValidPrefix(Prefix))
            errors.Add($"{Key}Prefix: '{Prefix}' must be 2-8 characters, a lower-case letter then lower-case letters and digits");
        if (!Namespaces.Contains("{host}", StringComparison.Ordinal))
            errors.Add($"{Key}Namespaces: '{Namespaces}' must contain {{host}}");
        foreach (var host in HostList.Where(h => !NetNamespace.IsValidName(NamespaceOf(h))))
            errors.Add($"{Key}Hosts: host '{host}' maps to '{NamespaceOf(host)}', which is not a namespace name");
        foreach (var (host, ns) in HostNamespaces.Where(p => !NetNamespace.IsValidName(p.Value)))
            errors.Add($"{Key}HostNamespaces:{host}: '{ns}' is not a namespace name");
        if (!NetNamespace.IsValidName(GatewayNamespace))
            errors.Add($"{Key}Gateway: '{GatewayNamespace}' is not a namespace name");
        foreach (var (vpc, vni) in Vnis.Append(new KeyValuePair<string, int>("(default)", DefaultVni)).Where(p => p.Value is < 1 or > 16_777_215))
            errors.Add($"{Key}{(vpc == "(default)" ? "DefaultVni" : "Vnis:" + vpc)}: must be between 1 and 16777215, got {vni}");
        return errors;
    }

    /// <summary>What this machine lacks for these options: <c>ip</c>, the gateway's namespace and VXLAN devices, the
    /// configured hosts' namespaces. One message each; empty when ready.</summary>
    public List<string> CheckMachine()
    {
        var errors = new List<string>();
        if (!HostCommand.IsInstalled("ip"))
            errors.Add("the linux network backend needs iproute2's 'ip' on PATH");
        if (!NetNamespace.Exists(GatewayNamespace))
            errors.Add($"Omig:Cloud:Network:Linux:Gateway: namespace '{GatewayNamespace}' does not exist (is the lab up? omig lab up)");
        foreach (var host in HostList.Where(h => !NetNamespace.Exists(NamespaceOf(h))))
            errors.Add($"Omig:Cloud:Network:Linux:Hosts: host '{host}': namespace '{NamespaceOf(host)}' does not exist (is the lab up?)");
        if (errors.Count == 0)
        {
            foreach (var vni in (Vnis.Count > 0 ? Vnis.Values.ToList() : [DefaultVni]).Distinct())
            {
                var device = LabConventions.VxlanDevice(vni);
                if (!Ip.LinkExistsAsync(GatewayNamespace, device).GetAwaiter().GetResult())
                    errors.Add($"Omig:Cloud:Network:Linux: the gateway namespace '{GatewayNamespace}' has no VXLAN device {device}");
            }
        }

        return errors;
    }
}
