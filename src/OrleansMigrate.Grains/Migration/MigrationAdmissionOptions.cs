namespace OrleansMigrate.Grains.Migration;

/// <summary>Concurrency limits for live migrations; a request over a limit waits in the queue.</summary>
public sealed class MigrationAdmissionOptions
{
    /// <summary>Migrations leaving one host at once (1–64; default 2).</summary>
    public int MaxOutboundPerHost { get; set; } = 2;

    /// <summary>Migrations arriving at one host at once (1–64; default 2).</summary>
    public int MaxInboundPerHost { get; set; } = 2;

    /// <summary>Migrations in flight in the whole cluster (1–10,000; default 16).</summary>
    public int MaxPerCluster { get; set; } = 16;
}
