namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Phases of the destination side of a migration.</summary>
public enum IncomingMigrationState
{
    /// <summary>Listening; no source connected yet.</summary>
    Listening,

    /// <summary>Receiving rounds and the final copy.</summary>
    Receiving,

    /// <summary>Everything received and applied; the VM may be resumed.</summary>
    ReadyToResume,

    /// <summary>Resumed on this host (committed).</summary>
    Resumed,

    /// <summary>Failed or aborted; the destination VM has been torn down.</summary>
    Failed,
}
