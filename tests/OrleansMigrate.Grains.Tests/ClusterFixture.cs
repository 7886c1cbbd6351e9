using Orleans.Hosting;
using Orleans.TestingHost;
using OrleansMigrate.Client;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Tests;

/// <summary>
/// A three-silo in-process cluster shaped like production: the primary silo is control-only, the
/// second serves hosts h-a and h-b, the third serves h-c. Grain state is in memory.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const string ControlSilo = "Silo_0";

    public static readonly IReadOnlyDictionary<string, string> HostSilos = new Dictionary<string, string>
    {
        ["h-a"] = "Silo_1",
        ["h-b"] = "Silo_1",
        ["h-c"] = "Silo_2",
    };

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public OmigClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((options, silo) =>
        {
            silo.AddOmigMemoryStorage();
            silo.UseInMemoryReminderService();
            var (role, hosts) = options.SiloName switch
            {
                ControlSilo => (SiloRole.Control, ""),
                "Silo_1" => (SiloRole.Host, "h-a,h-b"),
                "Silo_2" => (SiloRole.Host, "h-c"),
                _ => (SiloRole.Host, "h-extra"),
            };
            silo.AddOrleansMigrateCore(role, hosts);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        Client = new OmigClient(Cluster.Client);
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
