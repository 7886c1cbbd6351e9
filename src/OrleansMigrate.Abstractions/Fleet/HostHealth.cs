namespace OrleansMigrate.Fleet;

/// <summary>Hardware health of a host as reported by its agent or an operator.</summary>
public enum HostHealth
{
    Ok = 0,
    /// <summary>Non-fatal errors (e.g. corrected memory errors): VMs keep running but should be moved.</summary>
    Degraded = 1,
    Failed = 2,
}
