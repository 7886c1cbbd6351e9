using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>What a VM is: identity and size. Source and destination of a migration use the same spec.</summary>
public sealed record VmSpec
{
    /// <summary>Cloud-wide VM id; also the key of the VM grain.</summary>
    public required string VmId { get; init; }

    /// <summary>Guest memory in MiB; a multiple of 4 KiB pages. Range 1..16384 for the simulated driver.</summary>
    public required int MemoryMiB { get; init; }

    /// <summary>Number of vCPUs, 1..256.</summary>
    public int VCpuCount { get; init; } = 2;

    /// <summary>
    /// Behaviour of the simulated guest (content mix, dirtying workload, session churn). Used by the
    /// simulated driver only; other drivers ignore it. Null means an idle guest with the default content mix.
    /// </summary>
    public SimulatedGuestOptions? Simulation { get; init; }

    /// <summary>Disk image and machine type for the QEMU driver (required there); other drivers ignore it.</summary>
    public Qemu.QemuGuest? Qemu { get; init; }

    /// <summary>
    /// Ids of the VM's hot-pluggable NICs (stand-ins for SR-IOV VFs, e.g. <c>vf-mlx5-0</c>): plugged after a fresh boot and
    /// after an incoming migration resumes, unplugged before an outgoing one (<see cref="IHypervisorDriver.PlugDeviceAsync"/>).
    /// QEMU gives each an empty PCIe root port (q35 with native PCIe hotplug, so a guest that never powered the slot
    /// lets the device go at once; on <c>pc</c> the guest must answer ACPI hotplug); the in-process drivers model them.
    /// </summary>
    public IReadOnlyList<string> HotplugDevices { get; init; } = [];

    /// <summary>Throws <see cref="ArgumentException"/> if a field is out of range.</summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(VmId);
        if (MemoryMiB is < 1 or > 16384)
            throw new ArgumentException($"MemoryMiB must be in 1..16384, was {MemoryMiB}.", nameof(MemoryMiB));
        if (VCpuCount is < 1 or > 256)
            throw new ArgumentException($"VCpuCount must be in 1..256, was {VCpuCount}.", nameof(VCpuCount));
        Simulation?.Validate();
    }
}
