namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>A VM as one host sees it.</summary>
/// <param name="Spec">The spec it was created with.</param>
/// <param name="State">Its run state now.</param>
/// <param name="HasActiveMigration">True while an outgoing or incoming migration object is attached.</param>
/// <param name="Detail">What the hypervisor says beyond the state (QEMU: run status, process id, why it exited).</param>
public sealed record VmInfo(VmSpec Spec, VmState State, bool HasActiveMigration, string? Detail = null)
{
    public string VmId => Spec.VmId;
}
