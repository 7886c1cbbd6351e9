namespace OrleansMigrate.Fleet;

/// <summary>Whether new VMs may be placed on a host.</summary>
public enum SchedulingState
{
    Schedulable = 0,
    /// <summary>No new VMs; the ones running stay.</summary>
    Cordoned = 1,
    /// <summary>Cordoned, and every VM is being migrated away.</summary>
    Draining = 2,
    /// <summary>Empty and out of service (upgrade, repair).</summary>
    Maintenance = 3,
}
