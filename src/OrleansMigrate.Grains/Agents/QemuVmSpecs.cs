using System.Globalization;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Lab;
using HvVmSpec = OrleansMigrate.Hypervisor.Drivers.VmSpec;

namespace OrleansMigrate.Grains.Agents;

/// <summary>
/// Maps a registry VM to a QEMU guest: its memory and vCPUs as registered, its boot image
/// (<see cref="OrleansMigrate.Fleet.VmSpec.Image"/>, required), the machine type from the label <c>qemu.machine</c>, a
/// direct Linux boot from the labels <c>qemu.kernel</c>, <c>qemu.initrd</c> and <c>qemu.append</c>, its NICs as taps on
/// this host (when the host attaches NICs), and its cloud disk over the network (when the block store gives one).
/// </summary>
public static class QemuVmSpecs
{
    public const string MachineLabel = "qemu.machine";

    /// <summary>Kernel (bzImage) for a direct Linux boot, absolute, inside the host's image directories.</summary>
    public const string KernelLabel = "qemu.kernel";

    /// <summary>Initramfs of the Linux boot (optional).</summary>
    public const string InitrdLabel = "qemu.initrd";

    /// <summary>Kernel command line of the Linux boot (optional; default <c>console=ttyS0</c>).</summary>
    public const string AppendLabel = "qemu.append";

    /// <summary>Largest guest the QEMU hosts start, in MiB.</summary>
    public const int MaxMemoryMiB = 16384;

    /// <param name="vm">The registry VM.</param>
    /// <param name="tapNics">Each NIC becomes a virtio NIC on this host's tap <see cref="VmNicAttachment.TapName"/>.</param>
    /// <param name="disks">Where this host attaches the VM's cloud disks (by disk id); null or empty: none.</param>
    /// <param name="consoleDirectory">Where a Linux guest's serial console is written (<c>VMID.console.log</c>); null discards it.</param>
    public static HvVmSpec From(OrleansMigrate.Fleet.VmSpec vm, bool tapNics = false, IReadOnlyDictionary<string, BlockDeviceAttachment>? disks = null,
        string? consoleDirectory = null)
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
            HotplugDevices = Migration.DeviceRules.HotplugIds(vm),
            Qemu = new QemuGuest
            {
                ImagePath = vm.Image,
                MachineType = machine,
                Linux = LinuxBoot(vm, consoleDirectory),
                Nics = tapNics ? [.. vm.Nics.Select((n, i) => new QemuNic { TapName = VmNicAttachment.TapName(vm.VmId, i), Mac = n.Mac })] : [],
                NbdDisk = NbdDisk(vm, disks),
            },
        };
    }

    private static QemuLinuxBoot? LinuxBoot(OrleansMigrate.Fleet.VmSpec vm, string? consoleDirectory)
    {
        if (!vm.Labels.TryGetValue(KernelLabel, out var kernel))
        {
            foreach (var label in new[] { InitrdLabel, AppendLabel }.Where(vm.Labels.ContainsKey))
            {
                throw OmigException.Invalid($"labels.{label}", $"needs labels.{KernelLabel}: only a direct Linux boot takes an initrd or a command line");
            }

            return null;
        }

        if (!Path.IsPathFullyQualified(kernel))
        {
            throw OmigException.Invalid($"labels.{KernelLabel}", $"'{kernel}' is not an absolute path");
        }

        var initrd = vm.Labels.TryGetValue(InitrdLabel, out var i) ? i : null;
        if (initrd is not null && !Path.IsPathFullyQualified(initrd))
        {
            throw OmigException.Invalid($"labels.{InitrdLabel}", $"'{initrd}' is not an absolute path");
        }

        var append = vm.Labels.TryGetValue(AppendLabel, out var a) ? a : "console=ttyS0";
        if (append.Length > 2048 || append.Any(c => c is < ' ' or > '~'))
        {
            throw OmigException.Invalid($"labels.{AppendLabel}", "a kernel command line is printable ASCII of at most 2048 characters");
        }

        return new QemuLinuxBoot
        {
            KernelPath = kernel,
            InitrdPath = initrd,
            CommandLine = append,
            ConsoleLogPath = consoleDirectory is null ? null : Path.Combine(consoleDirectory, vm.VmId + ".console.log"),
        };
    }

    private static QemuNbdDisk? NbdDisk(OrleansMigrate.Fleet.VmSpec vm, IReadOnlyDictionary<string, BlockDeviceAttachment>? disks)
    {
        if (disks is null || disks.Count == 0)
        {
            return null;
        }

        if (disks.Count > 1)
        {
            throw OmigException.Invalid("disks", $"VM '{vm.VmId}' has {disks.Count.ToString(CultureInfo.InvariantCulture)} network-attached disks: a QEMU host attaches one per VM");
        }

        var (diskId, attachment) = disks.Single();
        if (attachment.Protocol != "nbd")
        {
            throw OmigException.Invalid("disks", $"disk '{diskId}' is served over '{attachment.Protocol}': a QEMU host attaches nbd disks");
        }

        return new QemuNbdDisk { Host = attachment.Host, Port = attachment.Port, ExportName = attachment.ExportName };
    }
}
