namespace OrleansMigrate.Agents;

/// <summary>What a host's hypervisor says of one VM instance (the registry's own view is <see cref="Fleet.PowerState"/>).
/// Written in lower case: <c>running</c>, <c>postmigrate</c>…</summary>
public enum HypervisorVmState
{
    /// <summary>Defined, memory reserved, never run (QEMU <c>prelaunch</c>).</summary>
    Created = 0,

    /// <summary>vCPUs run.</summary>
    Running = 1,

    /// <summary>vCPUs stopped: paused, or for a switchover.</summary>
    Paused = 2,

    /// <summary>Target of an incoming migration, not yet resumed (QEMU <c>inmigrate</c>).</summary>
    Incoming = 3,

    /// <summary>Source after a committed migration: stopped for good (QEMU <c>postmigrate</c>).</summary>
    Postmigrate = 4,

    /// <summary>An incoming migration failed or was aborted; torn down, awaiting destroy.</summary>
    Failed = 5,

    /// <summary>The hypervisor process died under the guest: it needs a restart.</summary>
    Lost = 6,
}
