namespace OrleansMigrate.Hosting;

public static class StorageNames
{
    /// <summary>Grain storage for fleet, migration and campaign state.</summary>
    public const string Fleet = "omig";
}
