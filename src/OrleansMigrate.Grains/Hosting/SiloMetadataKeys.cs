namespace OrleansMigrate.Grains.Hosting;

/// <summary>Keys this silo publishes through Orleans silo metadata, read by our placement directors.</summary>
public static class SiloMetadataKeys
{
    /// <summary>Comma-separated roles: <c>control</c>, <c>host</c>.</summary>
    public const string Roles = "omig.roles";

    /// <summary>Comma-separated host ids served, or <c>*</c>.</summary>
    public const string Hosts = "omig.hosts";

    public const string AnyHost = OrleansMigrate.Cluster.SiloInfo.AnyHost;

    public static IReadOnlyList<string> Split(string? value) =>
        string.IsNullOrWhiteSpace(value) ? [] : value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
