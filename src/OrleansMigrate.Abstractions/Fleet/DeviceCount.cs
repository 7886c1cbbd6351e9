using System.Globalization;

namespace OrleansMigrate.Fleet;

/// <summary>A number of devices of one kind and model: what a host offers (its inventory) or a VM asks for.
/// Written <c>KIND:MODEL:COUNT</c>, e.g. <c>gpu:A10:4</c>, <c>vf:mlx5:16</c>, <c>vgpu:A10-4Q:1</c>.</summary>
/// <param name="Kind">The device kind (its migration rule).</param>
/// <param name="Model">The model or profile, 1–64 of letters, digits, '.', '_', '-' (case matters: <c>A10</c> is not <c>a10</c>).</param>
/// <param name="Count">How many: 1–<see cref="FleetValidation.MaxDeviceCount"/>.</param>
[GenerateSerializer, Immutable]
[Alias("omig.DeviceCount")]
public sealed record DeviceCount(
    [property: Id(0)] DeviceKind Kind,
    [property: Id(1)] string Model,
    [property: Id(2)] int Count)
{
    /// <summary><c>kind:model</c>, the name a ledger counts by and a refusal names (e.g. <c>gpu:A10</c>).</summary>
    public string Key => KeyOf(Kind, Model);

    /// <summary>The lower-case spelling of a kind, as written on the command line.</summary>
    public static string KindName(DeviceKind kind) => Naming.EnumNames.Of(kind);

    public static string KeyOf(DeviceKind kind, string model) => KindName(kind) + ":" + model;

    public override string ToString() => Key + ":" + Count.ToString(CultureInfo.InvariantCulture);
}
