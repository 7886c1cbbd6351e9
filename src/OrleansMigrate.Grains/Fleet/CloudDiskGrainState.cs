using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>Persisted state of <see cref="CloudDiskGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.CloudDiskGrainState")]
public sealed class CloudDiskGrainState
{
    [Id(0)] public CloudDiskRecord? Record { get; set; }
}
