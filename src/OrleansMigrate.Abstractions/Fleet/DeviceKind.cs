namespace OrleansMigrate.Fleet;

/// <summary>What kind of device a host offers and a VM asks for; each kind has its own migration rule
/// (<c>DeviceRules</c> in the grains).</summary>
public enum DeviceKind
{
    /// <summary>A whole GPU handed to the guest (VFIO pass-through): its state lives in hardware, so the VM needs a cold move.</summary>
    Gpu = 0,

    /// <summary>An FPGA board handed to the guest (VFIO pass-through, no mediation): a cold move, like <see cref="Gpu"/>.</summary>
    Fpga = 1,

    /// <summary>An SR-IOV virtual function of a NIC: unplugged before a live move, a VF plugged on the destination after.</summary>
    Vf = 2,

    /// <summary>A mediated vGPU (a profile such as <c>A10-4Q</c>): live-migrated only by a QEMU with switchover-ack (8.1 or newer).</summary>
    Vgpu = 3,
}
