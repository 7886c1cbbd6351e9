using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.Storage;
using Orleans.TestingHost;
using OrleansMigrate.Client;
using OrleansMigrate.Grains.Audit;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Tests.Fleet;

/// <summary>
/// A one-silo cluster (role all, serving host <see cref="HostId"/>) with the continuous auditor off, so nothing activates
/// a grain the test has not called: a test can write rows in an older layout before the grain that owns them activates.
/// </summary>
public sealed class FreshClusterFixture : IAsyncLifetime
{
    public const string HostId = "h-f";

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public OmigClient Client { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    /// <summary>The silo's grain storage, to read and write rows as they are stored.</summary>
    public IGrainStorage Storage => Cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(StorageNames.Fleet);

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddOmigMemoryStorage();
            silo.UseInMemoryReminderService();
            silo.Services.Configure<InvariantAuditOptions>(o => o.Interval = TimeSpan.Zero);
            silo.AddOrleansMigrateCore(SiloRole.All, HostId);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        Client = new OmigClient(Cluster.Client);
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}
