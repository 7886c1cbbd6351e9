using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.TestingHost;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Tests.Cloud;

/// <summary>
/// One all-roles silo with fast simulated cloud backends whose fleet storage is a <see cref="RecordingGrainStorage"/>
/// in front of the memory storage, so tests can see what each VPC change writes and make writes fail. The tests of
/// the collection run one at a time.
/// </summary>
public sealed class VpcStorageClusterFixture : IAsyncLifetime
{
    private const string InnerStorage = "recorded-fleet";

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    public RecordingGrainStorage Storage =>
        (RecordingGrainStorage)Cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(StorageNames.Fleet);

    public SimulatedNetworkManagerBackend NetworkManager => Cluster.Silos[0].ServiceProvider.GetRequiredService<SimulatedNetworkManagerBackend>();

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton(CloudClusterFixture.FastOptions());
            silo.AddMemoryGrainStorage(InnerStorage, (OptionsBuilder<MemoryGrainStorageOptions> b) =>
                b.Configure<Serializer>((o, serializer) => o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer)));
            silo.Services.AddGrainStorage(StorageNames.Fleet, (sp, _) =>
                new RecordingGrainStorage(sp.GetRequiredKeyedService<IGrainStorage>(InnerStorage), sp.GetRequiredService<Serializer>()));
            silo.UseInMemoryReminderService();
            silo.AddOrleansMigrateCore(SiloRole.All, SiloMetadataKeys.AnyHost);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

/// <summary>The tests that share <see cref="VpcStorageClusterFixture"/>; they run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class VpcStorageCollection : ICollectionFixture<VpcStorageClusterFixture>
{
    public const string Name = "vpc-storage";
}
