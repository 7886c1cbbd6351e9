using System.Collections.Immutable;

namespace OrleansMigrate.Fleet;

/// <summary>What an operator registers about a hypervisor host.</summary>
/// <param name="HostId">Lower-case DNS label style id, 1–63 characters.</param>
/// <param name="Cores">Physical cores offered to VMs, 1–4096.</param>
/// <param name="MemoryMiB">Memory offered to VMs in MiB, 256 MiB – 64 TiB.</param>
/// <param name="CpuFeatures">CPU feature flags (e.g. <c>avx2</c>, <c>avx512f</c>), lower case.</param>
/// <param name="HardwareGeneration">Platform generation, 1–1000; newer is larger.</param>
/// <param name="FirmwareVersion">Dotted numeric version, e.g. <c>2.4.1</c>.</param>
/// <param name="HypervisorVersion">The QEMU version, e.g. <c>7.2.0</c>; mediated vGPUs move live only between hosts of 8.1 or newer.</param>
[GenerateSerializer, Immutable]
[Alias("omig.HostSpec")]
public sealed record HostSpec(
    [property: Id(0)] string HostId,
    [property: Id(1)] int Cores,
    [property: Id(2)] long MemoryMiB,
    [property: Id(3)] string CpuModel,
    [property: Id(4)] ImmutableArray<string> CpuFeatures,
    [property: Id(5)] int HardwareGeneration,
    [property: Id(6)] string FirmwareVersion,
    [property: Id(7)] string KernelVersion,
    [property: Id(8)] string HypervisorVersion,
    [property: Id(9)] ImmutableDictionary<string, string> Labels)
{
    // An init property, not a positional parameter: an optional struct parameter's default cannot be described (the
    // OpenAPI document). Normalised: left out, or in a row stored before devices existed, it reads as empty.
    /// <summary>Devices the host offers to VMs (<c>gpu:A10:4</c>, <c>vf:mlx5:16</c>), each kind and model once.</summary>
    [Id(10)]
    public ImmutableArray<DeviceCount> Devices { get => field.IsDefault ? [] : field; init; }
}
