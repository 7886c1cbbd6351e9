namespace OrleansMigrate.Fleet;

/// <summary>A PCI device handed to the guest (SR-IOV VF, GPU): its state lives in hardware, so live migration is refused.</summary>
/// <param name="Address">PCI address <c>dddd:bb:ss.f</c>.</param>
/// <param name="Kind">e.g. <c>gpu</c>, <c>sriov-vf</c>, <c>nvme</c>.</param>
[GenerateSerializer, Immutable]
[Alias("omig.PassthroughDevice")]
public sealed record PassthroughDevice(
    [property: Id(0)] string Address,
    [property: Id(1)] string Kind);
