namespace OrleansMigrate.Fleet;

/// <param name="DiskId">Id of the cloud disk on the distributed block store.</param>
/// <param name="SizeGiB">1 GiB – 64 TiB.</param>
[GenerateSerializer, Immutable]
[Alias("omig.DiskSpec")]
public sealed record DiskSpec(
    [property: Id(0)] string DiskId,
    [property: Id(1)] long SizeGiB);
