namespace OrleansMigrate.Fleet;

/// <summary>A VM as the fleet registry knows it.</summary>
/// <param name="PowerDetail">Why the power state is what it is when that needs saying (an <see cref="PowerState.Unknown"/>
/// VM: whose agent is unreachable since when), else null.</param>
[GenerateSerializer, Immutable]
[Alias("omig.VmRecord")]
public sealed record VmRecord(
    [property: Id(0)] VmSpec Spec,
    [property: Id(1)] string HostId,
    [property: Id(2)] PowerState Power,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] string? PowerDetail = null)
{
    public string VmId => Spec.VmId;
}
