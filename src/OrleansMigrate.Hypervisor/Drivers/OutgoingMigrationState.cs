namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Phases of the source side of a migration, in order. Transitions live in one place (the source engine).</summary>
public enum OutgoingMigrationState
{
    /// <summary>Iterative rounds are being sent while the VM runs.</summary>
    PreCopy,

    /// <summary>Pre-copy wants to switch over; the stage watches the dirty rate and waits out a surge.</summary>
    PreLastCopy,

    /// <summary>VM paused; waiting for the orchestrator to call <see cref="IOutgoingMigration.FinalCopyAsync"/>.</summary>
    PreSwitchover,

    /// <summary>Stop-and-copy in progress inside the downtime.</summary>
    FinalCopy,

    /// <summary>Final copy sent and acknowledged (or its outcome unknown); VM paused, waiting for commit or cancel.</summary>
    AwaitingCommit,

    /// <summary>Committed: the VM runs on the destination; the source is stopped.</summary>
    Completed,

    /// <summary>Cancelled by the caller; the VM runs on the source.</summary>
    Cancelled,

    /// <summary>Failed; the VM runs on the source.</summary>
    Failed,
}
