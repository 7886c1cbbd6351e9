namespace OrleansMigrate.Fleet;

/// <summary>A relay from the source host to the destination host for one IP, staged disabled before
/// switchover and enabled at it, so packets still arriving at the source reach the VM.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.RelayRoute")]
public sealed record RelayRoute(
    [property: Id(0)] string Ip,
    [property: Id(1)] string FromHost,
    [property: Id(2)] string ToHost,
    [property: Id(3)] bool Enabled,
    [property: Id(4)] string OwnerId);
