namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>What pre-copy does when it reaches <see cref="MigrationOptions.MaxRounds"/> or <see cref="MigrationOptions.MaxPreCopyMs"/> without converging.</summary>
public enum PreCopyLimitAction
{
    /// <summary>Switch over anyway (the pre-last-copy stage, if enabled, may still wait for a calmer moment).</summary>
    ForceSwitchover,

    /// <summary>Fail the migration; the VM keeps running on the source.</summary>
    Fail,
}
