namespace OrleansMigrate.Migration;

/// <summary>What reading the destination guest after the resume found. Stored by name: keep the names.</summary>
public enum GuestCheckVerdict
{
    /// <summary>The check could not run (turned off, not a guest we can read, the guest moved or went away): never a pass.</summary>
    NotChecked = 0,

    /// <summary>The guest's memory was read and matches what the source held at the pause.</summary>
    Consistent = 1,

    /// <summary>The guest's memory was read and does not match: pages lost or from different moments.</summary>
    Inconsistent = 2,
}
