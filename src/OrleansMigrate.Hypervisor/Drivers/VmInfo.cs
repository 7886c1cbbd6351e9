namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>A VM as one host sees it.</summary>
/// <param name="Spec">The spec it was created with.</param>
/// <param name="State">Its run state now.</param>
/// <param name="HasActiveMigration">True while an outgoing or incoming migration object is attached.</param>
public sealed record VmInfo(VmSpec Spec, VmState State, bool HasActiveMigration)
{
    public string VmId => Spec.VmId;
}
