namespace OrleansMigrate.Fleet;

/// <summary>Cores and memory held on a host by a placed VM or a reservation.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.Placement")]
public sealed record Placement(
    [property: Id(0)] int Vcpus,
    [property: Id(1)] long MemoryMiB);
