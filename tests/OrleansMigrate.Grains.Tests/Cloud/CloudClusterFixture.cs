using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.TestingHost;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Tests.Cloud;

/// <summary>
/// One all-roles silo whose simulated cloud backends take a few milliseconds per action, with one
/// <see cref="ScriptedFaults"/> shared by every grain. Both are registered before
/// <c>AddOrleansMigrateCore</c>, whose TryAdd registrations then keep them. The tests of the collection run
/// one at a time, so a fault a test arms is met by that test's next matching action.
/// </summary>
public sealed class CloudClusterFixture : IAsyncLifetime
{
    /// <summary>The options instance the backends read at every action: a test may slow one latency down for
    /// its own run, and must put it back.</summary>
    public CloudBackendOptions Options { get; } = FastOptions();

    public ScriptedFaults Faults { get; } = new();

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    public SimulatedCloudDiskBackend BlockStore => Cluster.Silos[0].ServiceProvider.GetRequiredService<SimulatedCloudDiskBackend>();

    public SimulatedNetworkManagerBackend NetworkManager => Cluster.Silos[0].ServiceProvider.GetRequiredService<SimulatedNetworkManagerBackend>();

    public static CloudBackendOptions FastOptions() => new()
    {
        DiskOpenReadOnlyMs = 3,
        DiskPauseMs = 1,
        DiskReopenReadWriteMs = 1,
        DiskUnpauseMs = 1,
        DiskCloseMs = 5,
        RelayStageMs = 2,
        RelaySwitchMs = 1,
        RelayRemoveMs = 2,
        FlowInstallMsPerFlow = 1,
        FlowsPerNic = 3,
    };

    /// <summary>How many times <paramref name="step"/> reached a backend so far.</summary>
    public int Seen(string step) => Faults.Seen.Count(s => s == step);

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton(Options);
            silo.Services.AddSingleton<IFaultInjector>(Faults);
            // Orleans' own serializer, as the PostgreSQL storage uses: the memory provider's default JSON
            // serializer cannot read back the immutable dictionaries of the disk and VPC records, and the
            // restart tests read them back.
            silo.AddMemoryGrainStorage(StorageNames.Fleet, (OptionsBuilder<MemoryGrainStorageOptions> b) =>
                b.Configure<Serializer>((o, serializer) => o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer)));
            silo.UseInMemoryReminderService();
            silo.AddOrleansMigrateCore(SiloRole.All, SiloMetadataKeys.AnyHost);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}
