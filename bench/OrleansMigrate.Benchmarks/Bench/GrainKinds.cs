namespace OrleansMigrate.Cli.Bench;

/// <summary>The grain kinds the placement report names, from Orleans' grain type names.</summary>
public static class GrainKinds
{
    public const string Campaign = "campaign";
    public const string Drain = "drain";
    public const string Migration = "migration";
    public const string Scheduler = "scheduler";

    private static readonly IReadOnlyDictionary<string, string> Names = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["CampaignGrain"] = Campaign,
        ["HostDrainGrain"] = Drain,
        ["MigrationGrain"] = Migration,
        ["FleetGrain"] = "fleet",
        ["HostGrain"] = "host",
        ["VmGrain"] = "vm",
        ["VmIndexGrain"] = "vm_index",
        ["HostDirectoryGrain"] = "host_directory",
        ["CloudDiskGrain"] = "disk",
        ["VpcFlowTableGrain"] = "vpc",
        ["VpcFlowShardGrain"] = "vpc_shard",
        ["HostAgentGrain"] = "host_agent",
        ["MigrationHistoryPageGrain"] = "migration_history",
        ["CampaignHostsPageGrain"] = "campaign_hosts_page",
        ["CampaignDirectoryGrain"] = "campaign_directory",
        ["RunningOperationsGrain"] = "running_operations",
        ["InvariantAuditorGrain"] = "auditor",
    };

    /// <summary>The kind of a grain type as Orleans names it (<c>Namespace.Type</c>, possibly with an assembly after a
    /// comma), or null for a type that is not ours (Orleans' own system grains).</summary>
    public static string? Of(string? grainType)
    {
        if (string.IsNullOrEmpty(grainType))
        {
            return null;
        }

        var full = grainType.Split(',', 2)[0].Trim();
        if (!full.StartsWith("OrleansMigrate.", StringComparison.Ordinal))
        {
            return null;
        }

        var name = full[(full.LastIndexOfAny(['.', '+']) + 1)..];
        if (name.IndexOf('`', StringComparison.Ordinal) is var tick and >= 0)
        {
            name = name[..tick];
        }

        // Every shard of the scheduler (keys "scheduler", "scheduler/1" … "scheduler/15").
        if (name.Contains("MigrationScheduler", StringComparison.Ordinal))
        {
            return Scheduler;
        }

        return Names.TryGetValue(name, out var kind) ? kind : SnakeCase(name.EndsWith("Grain", StringComparison.Ordinal) ? name[..^5] : name);
    }

    private static string SnakeCase(string name)
    {
        var b = new System.Text.StringBuilder();
        foreach (var c in name)
        {
            if (char.IsUpper(c) && b.Length > 0)
            {
                b.Append('_');
            }

            b.Append(char.ToLowerInvariant(c));
        }

        return b.ToString();
    }
}
