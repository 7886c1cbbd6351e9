namespace OrleansMigrate.Grains.Hosting;

/// <summary>What a silo runs.</summary>
[Flags]
public enum SiloRole
{
    /// <summary>Fleet, migration and campaign grains.</summary>
    Control = 1,
    /// <summary>Host-pinned agents for the hosts the silo serves.</summary>
    Host = 2,
    /// <summary>Both: the embedded default.</summary>
    All = Control | Host,
}
