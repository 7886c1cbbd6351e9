namespace OrleansMigrate.Fleet;

/// <summary>Whether a host's machine is powered (set by <c>omig host power</c>, a power plan's apply, or the power
/// manager's automatic power-on). A host that is <see cref="Off"/> runs no VM and is never a destination.</summary>
public enum HostPowerState
{
    On = 0,

    /// <summary>Powered off through the power backend; empty (the host registry refuses to power off a host with VMs or
    /// reservations, and to place anything on one that is off).</summary>
    Off = 1,
}
