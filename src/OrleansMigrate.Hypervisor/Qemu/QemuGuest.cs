namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>What QEMU needs to boot a VM beyond its size: the disk image and the machine type.</summary>
public sealed record QemuGuest
{
    /// <summary>Raw disk image, absolute path on storage every host sees (standing in for the cloud disk). Attached
    /// as the IDE boot disk; with <see cref="Linux"/> set the kernel boots directly and this disk is only present.</summary>
    public required string ImagePath { get; init; }

    /// <summary>Machine type, null for <see cref="QemuDriverOptions.MachineType"/>.</summary>
    public string? MachineType { get; init; }

    /// <summary>Direct Linux boot (kernel, initrd, command line, serial console log); null boots <see cref="ImagePath"/>.</summary>
    public QemuLinuxBoot? Linux { get; init; }

    /// <summary>Virtio NICs, each backed by a tap device on this host (at most 8).</summary>
    public IReadOnlyList<QemuNic> Nics { get; init; } = [];

    /// <summary>A raw image attached as a virtio-blk data disk (<c>/dev/vda</c> in a Linux guest, cache=none), inside
    /// the image directories; null for none.</summary>
    public string? DataDiskPath { get; init; }

    /// <summary>A cloud disk attached over NBD (this host's export), or null.</summary>
    public QemuNbdDisk? NbdDisk { get; init; }
}

/// <summary>A direct Linux boot: QEMU's <c>-kernel</c>, <c>-initrd</c> and <c>-append</c>, and the serial console to a file.</summary>
public sealed record QemuLinuxBoot
{
    /// <summary>The kernel (bzImage), absolute, inside the image directories.</summary>
    public required string KernelPath { get; init; }

    /// <summary>The initramfs, absolute, inside the image directories; null for none.</summary>
    public string? InitrdPath { get; init; }

    /// <summary>The kernel command line: printable ASCII, at most 2048 characters.</summary>
    public string CommandLine { get; init; } = "console=ttyS0";

    /// <summary>File the guest's serial console (ttyS0) is written to, absolute, in an existing directory inside the
    /// image directories or the runtime directory; null discards the console.</summary>
    public string? ConsoleLogPath { get; init; }
}

/// <summary>A virtio NIC backed by an existing tap device (QEMU's <c>-netdev tap,ifname=…,script=no,downscript=no</c>).</summary>
public sealed record QemuNic
{
    /// <summary>The tap device's name on this host: 1..15 characters of letters, digits, '-', '_' and '.'; it must exist
    /// when the VM starts (the host's network setup makes it). A destination host names its own tap.</summary>
    public required string TapName { get; init; }

    /// <summary>The guest's MAC, six colon-separated hex pairs, unicast (e.g. <c>52:54:00:12:34:56</c>); kept across a migration.</summary>
    public required string Mac { get; init; }

}
