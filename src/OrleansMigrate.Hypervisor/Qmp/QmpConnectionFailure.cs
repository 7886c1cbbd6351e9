namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>Why a QMP connection is unusable.</summary>
public enum QmpConnectionFailure
{
    /// <summary>The socket could not be opened (no such path, refused, timed out).</summary>
    ConnectFailed,

    /// <summary>The peer closed the stream, or a read or write on it failed.</summary>
    Closed,

    /// <summary>The peer sent bytes that are not QMP, or a message out of order (a second greeting, a reply before the greeting).</summary>
    ProtocolViolation,

    /// <summary>The client was disposed.</summary>
    Disposed,
}
