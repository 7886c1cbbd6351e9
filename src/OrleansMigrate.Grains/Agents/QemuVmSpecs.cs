using System.Globalization;
using OrleansMigrate.Errors;
using OrleansMigrate.Hypervisor.Qemu;
using HvVmSpec = OrleansMigrate.Hypervisor.Drivers.VmSpec;

namespace OrleansMigrate.Grains.Agents;

/// <summary>
/// Maps a registry VM to a QEMU guest: its memory and vCPUs as registered, its boot image
/// (<see cref="OrleansMigrate.Fleet.VmSpec.Image"/>, required), and the machine type from the label <c>qemu.machine</c>.
/// </summary>
public static class QemuVmSpecs
{
    public const string MachineLabel = "qemu.machine";

    /// <summary>Largest guest the QEMU hosts start, in MiB.</summary>
    public const int MaxMemoryMiB = 16384;

    public static HvVmSpec From(OrleansMigrate.Fleet.VmSpec vm)
    {
        if (string.IsNullOrEmpty(vm.Image))
        {
            throw OmigException.Invalid("image", $"VM '{vm.VmId}' has no image: a QEMU host boots a VM from a raw image (omig vm create --image PATH)");
        }

        if (vm.MemoryMiB > MaxMemoryMiB)
        {
            throw OmigException.Invalid("memory_mib", $"QEMU hosts start guests of at most {MaxMemoryMiB.ToString(CultureInfo.InvariantCulture)} MiB, got {vm.MemoryMiB.ToString(CultureInfo.InvariantCulture)}");
        }

        var machine = vm.Labels.TryGetValue(MachineLabel, out var m) ? m : null;
        if (machine is not null && !QemuNames.IsMachineType(machine))
        {
            throw OmigException.Invalid($"labels.{MachineLabel}", $"'{machine}' is not a machine type name");
        }

        return new HvVmSpec
        {
            VmId = vm.VmId,
            MemoryMiB = (int)vm.MemoryMiB,
            VCpuCount = Math.Clamp(vm.Vcpus, 1, 256),
            Qemu = new QemuGuest { ImagePath = vm.Image, MachineType = machine },
        };
    }
}
