namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>How a guest page failed the consistency check.</summary>
public enum PageProblemKind
{
    /// <summary>Content does not derive from its own stamp: torn, mixed, garbage, or a stamped page that should be zero.</summary>
    Corrupt,

    /// <summary>A self-consistent page whose stamp names another page index.</summary>
    Misplaced,

    /// <summary>A self-consistent page of the wrong generation (lost or stale update).</summary>
    Stale,
}
