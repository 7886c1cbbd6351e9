using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>Persisted state of <see cref="HostGrain"/>. The type name is stored with each row: keep it stable.</summary>
[GenerateSerializer]
[Alias("omig.HostGrainState")]
public sealed class HostGrainState
{
    [Id(0)] public HostRecord? Record { get; set; }

    /// <summary>Changes made to the record since it was registered (0 in rows stored before it was counted); orders what
    /// the host publishes to the <see cref="IHostDirectoryGrain"/>.</summary>
    [Id(1)] public long Change { get; set; }
}
