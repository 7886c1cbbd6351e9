namespace OrleansMigrate.Fleet;

/// <summary>Persisted state of <see cref="HostGrain"/>. The type name is stored with each row: keep it stable.</summary>
[GenerateSerializer]
[Alias("omig.HostGrainState")]
public sealed class HostGrainState
{
    [Id(0)] public HostRecord? Record { get; set; }
}
