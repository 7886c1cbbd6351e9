namespace OrleansMigrate.Errors;

/// <summary>Machine-readable class of an <see cref="OmigException"/>; the CLI maps each to an exit code.</summary>
public enum OmigErrorCode
{
    /// <summary>A field of the request is malformed or out of range.</summary>
    InvalidArgument = 1,
    /// <summary>The named entity does not exist.</summary>
    NotFound = 2,
    /// <summary>The entity exists already, or the request conflicts with its current state.</summary>
    Conflict = 3,
    /// <summary>Not enough capacity (cores or memory) on the host, after reservations.</summary>
    InsufficientCapacity = 4,
    /// <summary>The host cannot run the VM (CPU features, versions, devices).</summary>
    Incompatible = 5,
    /// <summary>The component that must do the work is not running (e.g. no live silo serves the host).</summary>
    Unavailable = 6,
    /// <summary>A migration gave up before its commit point and rolls back: its data plane failed or its policy aborted
    /// it (a stall, the time limit); the VM keeps running on the source.</summary>
    Aborted = 7,
}
