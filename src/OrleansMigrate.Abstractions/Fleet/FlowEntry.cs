namespace OrleansMigrate.Fleet;

/// <summary>A VPC flow: packets for <paramref name="Ip"/> go to <paramref name="HostId"/>.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.FlowEntry")]
public sealed record FlowEntry(
    [property: Id(0)] string Ip,
    [property: Id(1)] string Mac,
    [property: Id(2)] string VmId,
    [property: Id(3)] string HostId);
