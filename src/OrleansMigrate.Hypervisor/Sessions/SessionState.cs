namespace OrleansMigrate.Hypervisor.Sessions;

/// <summary>Connection-tracking state of a session (conntrack-like).</summary>
public enum SessionState : byte
{
    New = 1,
    Established = 2,
    Closing = 3,
    TimeWait = 4,
}
