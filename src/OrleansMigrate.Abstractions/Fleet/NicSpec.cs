namespace OrleansMigrate.Fleet;

/// <param name="VpcId">The VPC whose flow table delivers this NIC's packets.</param>
/// <param name="Ip">IPv4 address inside the VPC, dotted quad.</param>
/// <param name="Mac">Colon-separated, lower case, unicast.</param>
[GenerateSerializer, Immutable]
[Alias("omig.NicSpec")]
public sealed record NicSpec(
    [property: Id(0)] string VpcId,
    [property: Id(1)] string Ip,
    [property: Id(2)] string Mac);
