using OrleansMigrate.Cluster;

namespace OrleansMigrate.Cli.Output;

/// <summary>Which live silo runs a host's agent, read from the silo list the way placement reads it: an active silo with
/// the host role that names the host, else one that serves every host (<c>*</c>); none means the agent is unavailable.</summary>
public static class HostAgents
{
    public static string? SiloOf(string hostId, IEnumerable<SiloInfo> silos)
    {
        var hostSilos = silos.Where(s => s.Status == "Active" && s.Roles.Contains("host", StringComparer.Ordinal)).ToList();
        return (hostSilos.FirstOrDefault(s => s.Hosts.Contains(hostId, StringComparer.Ordinal))
                ?? hostSilos.FirstOrDefault(s => s.Hosts.Contains(SiloInfo.AnyHost, StringComparer.Ordinal)))?.Name;
    }

    /// <summary>The AGENT column: the serving silo's name, or why there is none.</summary>
    public static string Describe(string? silo) => silo ?? "unavailable: no live silo serves it";
}
