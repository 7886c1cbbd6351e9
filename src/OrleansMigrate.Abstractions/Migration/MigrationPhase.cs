namespace OrleansMigrate.Migration;

/// <summary>Where a migration is. Transitions live in one place: <c>MigrationPhases</c> in the grains.</summary>
public enum MigrationPhase
{
    /// <summary>Accepted, waiting for an admission slot.</summary>
    Queued = 0,
    /// <summary>Capacity reserved, destination prepared, disks opened read-only there, relay staged.</summary>
    Prepare = 1,
    /// <summary>Memory and session-table rounds running.</summary>
    PreCopy = 2,
    /// <summary>The stabilisation stage before stop-and-copy.</summary>
    PreLastCopy = 3,
    /// <summary>VM paused; final copy, disk hand-over and relay switch in parallel; ends at the commit point.</summary>
    Switchover = 4,
    /// <summary>Committed: flows re-pointed, relay removed, source disk closed, source destroyed — off the critical path.</summary>
    PostMigration = 5,
    Completed = 6,
    /// <summary>Undoing everything before the commit point; the VM keeps running on the source.</summary>
    RollingBack = 7,
    RolledBack = 8,
    /// <summary>Ended without a consistent outcome (e.g. the source hypervisor died): needs an operator.</summary>
    Failed = 9,
}
