namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>What QEMU needs to boot a VM beyond its size: the disk image and the machine type.</summary>
public sealed record QemuGuest
{
    /// <summary>Raw disk image, absolute path on storage every host sees (standing in for the cloud disk).</summary>
    public required string ImagePath { get; init; }

    /// <summary>Machine type, null for <see cref="QemuDriverOptions.MachineType"/>.</summary>
    public string? MachineType { get; init; }

    /// <summary>A cloud disk attached over NBD (this host's export), or null.</summary>
    public QemuNbdDisk? NbdDisk { get; init; }
}
