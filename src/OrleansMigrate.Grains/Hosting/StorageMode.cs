namespace OrleansMigrate.Grains.Hosting;

public enum StorageMode
{
    /// <summary>Localhost clustering, in-memory grain state and reminders: one process, needs nothing else.</summary>
    Memory,
    /// <summary>ADO.NET clustering, grain storage and reminders on PostgreSQL (schema in <c>deploy/postgres</c>).</summary>
    Postgres,
}
