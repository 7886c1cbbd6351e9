namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Why pre-copy stopped iterating.</summary>
public enum SwitchoverReason
{
    /// <summary>The estimated final copy fits <see cref="MigrationOptions.DowntimeTargetMs"/>.</summary>
    Converged,

    /// <summary><see cref="MigrationOptions.MaxRounds"/> reached without converging.</summary>
    RoundLimit,

    /// <summary><see cref="MigrationOptions.MaxPreCopyMs"/> reached without converging.</summary>
    TimeLimit,

    /// <summary>The orchestrator called <see cref="IOutgoingMigration.RequestSwitchover"/>.</summary>
    Requested,
}
