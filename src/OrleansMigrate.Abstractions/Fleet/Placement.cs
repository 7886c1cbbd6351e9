using System.Collections.Immutable;

namespace OrleansMigrate.Fleet;

/// <summary>Cores, memory and devices held on a host by a placed VM or a reservation.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.Placement")]
public sealed record Placement(
    [property: Id(0)] int Vcpus,
    [property: Id(1)] long MemoryMiB)
{
    // An init property (see VmSpec.Devices); a row stored before devices existed reads as holding none.
    /// <summary>The devices held (the VM's <see cref="VmSpec.Devices"/>); empty for none, never default.</summary>
    [Id(2)]
    public ImmutableArray<DeviceCount> Devices { get => field.IsDefault ? [] : field; init; }

    /// <summary>What <paramref name="vm"/> holds where it is placed or reserved.</summary>
    public static Placement Of(VmSpec vm) => new(vm.Vcpus, vm.MemoryMiB) { Devices = vm.Devices };

    // Devices compare as a set of counts (the array itself compares by reference): an idempotent replay of a
    // placement or reservation must find the one it made equal.
    public bool Equals(Placement? other) =>
        other is not null && Vcpus == other.Vcpus && MemoryMiB == other.MemoryMiB && DeviceCounts.SameSet(Devices, other.Devices);

    public override int GetHashCode() => HashCode.Combine(Vcpus, MemoryMiB, Devices.Length);
}
