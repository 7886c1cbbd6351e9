namespace OrleansMigrate.Migration;

/// <summary>Queue order when admission limits are reached: maintenance work first.</summary>
public enum MigrationPriority
{
    Maintenance = 0,
    User = 1,
}
