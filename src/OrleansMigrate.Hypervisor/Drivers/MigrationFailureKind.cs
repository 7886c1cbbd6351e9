namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Why a migration failed.</summary>
public enum MigrationFailureKind
{
    /// <summary>The TCP connection failed or dropped.</summary>
    Transport,

    /// <summary>A frame failed its checksum or did not decode.</summary>
    Corruption,

    /// <summary>A well-formed frame arrived out of place (sequence gap, unexpected type).</summary>
    Protocol,

    /// <summary>The destination refused the stream (e.g. memory size mismatch).</summary>
    Rejected,

    /// <summary>Cancelled by the caller.</summary>
    Cancelled,

    /// <summary>Pre-copy hit a limit with <see cref="PreCopyLimitAction.Fail"/>.</summary>
    DidNotConverge,

    /// <summary>A connect, accept or acknowledgement timed out.</summary>
    Timeout,

    /// <summary>The source aborted the stream (destination side).</summary>
    SourceAborted,

    /// <summary>The destination reported an error (source side).</summary>
    DestinationFailed,

    /// <summary>
    /// The final copy was sent but not acknowledged: the destination may or may not have it all. The
    /// source stays paused; the orchestrator must decide (complete or cancel).
    /// </summary>
    Indeterminate,

    /// <summary>
    /// The migration had switched to post-copy (the destination runs and pulls the pages it still lacks from the source)
    /// and then failed: neither host holds the whole guest. The VM is lost and needs a restart.
    /// </summary>
    PostCopyLost,
}
