namespace OrleansMigrate.Fleet;

public enum PowerState
{
    Running = 0,
    Paused = 1,
    Stopped = 2,
    /// <summary>The hypervisor process died under the VM: it needs a restart, and says so.</summary>
    Lost = 3,
}
