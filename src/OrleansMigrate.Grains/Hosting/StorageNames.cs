namespace OrleansMigrate.Grains.Hosting;

public static class StorageNames
{
    /// <summary>Grain storage for fleet, migration and campaign state.</summary>
    public const string Fleet = "omig";

    /// <summary>On PostgreSQL, the ADO.NET storage underneath <see cref="Fleet"/> (which is <see cref="DatabaseErrorStorage"/>
    /// around it). Rows do not carry the provider's name, so the rename changes no stored row.</summary>
    public const string FleetDatabase = "omig-adonet";
}
