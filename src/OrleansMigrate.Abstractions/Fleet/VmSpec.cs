using System.Collections.Immutable;

namespace OrleansMigrate.Fleet;

/// <summary>What a cloud API asks for when it creates a VM.</summary>
/// <param name="Vcpus">1–1024.</param>
/// <param name="MemoryMiB">64 MiB – 16 TiB.</param>
/// <param name="RequiredCpuFeatures">Flags the guest was started with; every destination must have them.</param>
/// <param name="InstanceClass">Service class, selects the migration policy (e.g. <c>standard</c>, <c>critical</c>).</param>
/// <param name="Image">Boot disk image on storage every host sees (absolute path; QEMU hosts need it, the simulated hypervisor ignores it).</param>
[GenerateSerializer, Immutable]
[Alias("omig.VmSpec")]
public sealed record VmSpec(
    [property: Id(0)] string VmId,
    [property: Id(1)] int Vcpus,
    [property: Id(2)] long MemoryMiB,
    [property: Id(3)] ImmutableArray<string> RequiredCpuFeatures,
    [property: Id(4)] string InstanceClass,
    [property: Id(5)] ImmutableDictionary<string, string> Labels,
    [property: Id(6)] ImmutableArray<DiskSpec> Disks,
    [property: Id(7)] ImmutableArray<NicSpec> Nics,
    [property: Id(8)] ImmutableArray<PassthroughDevice> PassthroughDevices,
    [property: Id(9)] string? Image = null)
{
    // An init property, not a positional parameter: an optional struct parameter's default cannot be described (the
    // OpenAPI document). Normalised: left out, or in a row stored before devices existed, it reads as empty.
    /// <summary>Devices the VM asks for (<c>gpu:A10:1</c>, <c>vf:mlx5:2</c>): a host must have them free, the
    /// host ledger holds them like cores and memory, and each kind has its migration rule. Never default (empty for none).</summary>
    [Id(10)]
    public ImmutableArray<DeviceCount> Devices { get => field.IsDefault ? [] : field; init; }
}
