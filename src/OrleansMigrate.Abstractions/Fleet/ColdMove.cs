namespace OrleansMigrate.Fleet;

/// <summary>Whether a policy lets a VM that cannot be live-migrated be moved cold: shut down on its host, its disks and
/// flows handed over, started on the destination (the VM does not run meanwhile). Policy field <c>ColdMove</c>.</summary>
public enum ColdMove
{
    /// <summary>Never moved cold: a VM that cannot move live stays where it is (reported unmovable). A policy row stored
    /// before the field reads this.</summary>
    Never = 0,

    /// <summary>Drains, campaigns and <c>omig vm migrate --cold</c> may move it cold (fleet operations inside the class's
    /// maintenance window).</summary>
    Allow = 1,
}
