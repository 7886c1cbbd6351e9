namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Run state of a VM on one host (mirrors QEMU's run states where one exists).</summary>
public enum VmState
{
    /// <summary>Defined, memory reserved, never run (QEMU <c>prelaunch</c>).</summary>
    Created,

    /// <summary>vCPUs run.</summary>
    Running,

    /// <summary>vCPUs stopped: by <see cref="IHypervisorDriver.PauseVmAsync"/> or for switchover.</summary>
    Paused,

    /// <summary>Target of an incoming migration, not yet resumed (QEMU <c>inmigrate</c>).</summary>
    Incoming,

    /// <summary>Source after a committed migration: stopped for good (QEMU <c>postmigrate</c>).</summary>
    PostMigrate,

    /// <summary>An incoming migration failed or was aborted; the VM was torn down and only awaits destroy.</summary>
    Failed,

    /// <summary>The hypervisor process died under a running (or migrating-out) guest: the guest is gone and
    /// needs a restart. Never entered silently: <see cref="VmInfo.Detail"/> says how the process ended.</summary>
    Lost,
}
