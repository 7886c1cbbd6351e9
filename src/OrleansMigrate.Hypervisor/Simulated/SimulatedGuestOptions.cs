namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>Behaviour of a simulated guest (see <see cref="Drivers.VmSpec.Simulation"/>).</summary>
public sealed record SimulatedGuestOptions
{
    public ContentMix Content { get; init; } = ContentMix.Default;

    /// <summary>The dirtying workload; null is an idle guest.</summary>
    public GuestWorkloadOptions? Workload { get; init; }

    /// <summary>The session table and its churn; null means no sessions.</summary>
    public SessionChurnOptions? Sessions { get; init; } = new();

    /// <summary>Size of the device-state blob (vCPU registers, device models), in bytes (512..16 MiB).</summary>
    public int DeviceStateBytes { get; init; } = 32 << 10;

    /// <summary>Seed of page classes and page content; source and destination must agree (it travels in device state).</summary>
    public ulong Seed { get; init; } = 0x5EED_0F_0A11;

    /// <summary>The guest ignores the ACPI power-down request (no ACPI support, like a boot-sector guest): a cold move's
    /// graceful shutdown times out and it is stopped hard.</summary>
    public bool IgnoresPowerDown { get; init; }

    public void Validate(int guestMiB)
    {
        ArgumentNullException.ThrowIfNull(Content);
        Content.Validate();
        Workload?.Validate(guestMiB);
        Sessions?.Validate();
        if (DeviceStateBytes is < 512 or > 16 << 20)
            throw new ArgumentException($"DeviceStateBytes must be in 512..16 MiB, was {DeviceStateBytes}.");
    }

    /// <summary>Validates with the guest size unknown (hot set checked later against the VM).</summary>
    public void Validate() => Validate(int.MaxValue);
}
