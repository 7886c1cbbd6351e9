namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>What the pre-last-copy stage decided at one check.</summary>
public enum PreLastCopyVerdict
{
    /// <summary>Keep iterating: a surge is on, or the observation window is not over yet.</summary>
    Wait,

    /// <summary>The estimated final copy fits the target: pause now.</summary>
    Proceed,

    /// <summary><see cref="PreLastCopyOptions.MaxWaitMs"/> reached while the estimate still exceeds the target: pause anyway.</summary>
    GiveUp,

    /// <summary>The stage did not run (disabled, or switchover requested with the stage skipped).</summary>
    Skipped,
}
