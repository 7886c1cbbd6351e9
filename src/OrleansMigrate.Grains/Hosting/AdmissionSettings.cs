namespace OrleansMigrate.Grains.Hosting;

/// <summary>Migration admission limits of a silo (<c>Omig:Admission:…</c>): each one unset keeps the built-in default of
/// <see cref="Migration.MigrationAdmissionOptions"/>. The limits act where the admission ledger runs (a control silo), which counts every scheduler shard.</summary>
public sealed class AdmissionSettings
{
    /// <summary>Migrations in flight in the whole cluster (1–10,000).</summary>
    public int? MaxPerCluster { get; set; }

    /// <summary>Migrations leaving one host at once (1–64).</summary>
    public int? MaxOutboundPerHost { get; set; }

    /// <summary>Migrations arriving at one host at once (1–64).</summary>
    public int? MaxInboundPerHost { get; set; }

    public List<string> Check(string prefix = "Omig:Admission:")
    {
        var errors = new List<string>();
        if (MaxPerCluster is < 1 or > 10_000)
        {
            errors.Add($"{prefix}MaxPerCluster: {MaxPerCluster} is not between 1 and 10000");
        }

        if (MaxOutboundPerHost is < 1 or > 64)
        {
            errors.Add($"{prefix}MaxOutboundPerHost: {MaxOutboundPerHost} is not between 1 and 64");
        }

        if (MaxInboundPerHost is < 1 or > 64)
        {
            errors.Add($"{prefix}MaxInboundPerHost: {MaxInboundPerHost} is not between 1 and 64");
        }

        return errors;
    }

    /// <summary>Sets the limits given here on <paramref name="options"/>, leaving the others as they are.</summary>
    public void ApplyTo(Migration.MigrationAdmissionOptions options)
    {
        if (MaxPerCluster is { } cluster)
        {
            options.MaxPerCluster = cluster;
        }

        if (MaxOutboundPerHost is { } outbound)
        {
            options.MaxOutboundPerHost = outbound;
        }

        if (MaxInboundPerHost is { } inbound)
        {
            options.MaxInboundPerHost = inbound;
        }
    }
}
