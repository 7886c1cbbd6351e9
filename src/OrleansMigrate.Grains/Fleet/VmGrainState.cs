using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>Persisted state of <see cref="VmGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.VmGrainState")]
public sealed class VmGrainState
{
    [Id(0)] public VmRecord? Record { get; set; }
}
