namespace OrleansMigrate.Fleet;

public enum PowerState
{
    Running = 0,
    Paused = 1,
    Stopped = 2,
    /// <summary>The hypervisor process died under the VM: it needs a restart, and says so.</summary>
    Lost = 3,
    /// <summary>Its host's agent cannot be reached (its silo is down), so nobody can say whether the VM runs: set while a
    /// migration of the VM waits for that agent, and kept when it gives up. <see cref="VmRecord.PowerDetail"/> says since
    /// when; the agent records the VM running again when it is back (or <c>omig vm start</c> does).</summary>
    Unknown = 4,
}
