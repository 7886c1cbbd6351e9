namespace OrleansMigrate.Fleet;

/// <summary>A VM as the fleet registry knows it.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.VmRecord")]
public sealed record VmRecord(
    [property: Id(0)] VmSpec Spec,
    [property: Id(1)] string HostId,
    [property: Id(2)] PowerState Power,
    [property: Id(3)] DateTimeOffset CreatedAt)
{
    public string VmId => Spec.VmId;
}
