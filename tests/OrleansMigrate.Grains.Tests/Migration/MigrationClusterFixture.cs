using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.TestingHost;
using OrleansMigrate.Agents;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Tests.Cloud;

namespace OrleansMigrate.Tests.Migration;

/// <summary>
/// One all-roles silo serving every host, with byte-real 8 MiB simulated guests, millisecond cloud
/// latencies and a shared <see cref="ScriptedFaults"/>. Tests of the collection run one at a time and
/// each builds its own VM on hosts m-1..m-3.
/// </summary>
public sealed class MigrationClusterFixture : IAsyncLifetime
{
    public static readonly string[] HostIds = ["m-1", "m-2", "m-3"];

    public ScriptedFaults Faults { get; } = new();

    public CloudBackendOptions CloudOptions { get; } = CloudClusterFixture.FastOptions();

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public OmigClient Client { get; private set; } = null!;

    public IHostRuntime Runtime => Cluster.Silos[0].ServiceProvider.GetRequiredService<IHostRuntime>();

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton(CloudOptions);
            silo.Services.AddSingleton<IFaultInjector>(Faults);
            silo.Services.Configure<HostRuntimeOptions>(o => o.SimulatedGuestMiB = 8);
            silo.Services.AddSingleton(new OrleansMigrate.Grains.Operations.MaintenanceOptions { SimulatedUpgradeMs = 200 });
            silo.Services.AddSingleton(new OrleansMigrate.Grains.Operations.PowerOptions { SimulatedPowerMs = 100, WatchIntervalSeconds = 1, AgentWaitSeconds = 30 });
            silo.Services.Configure<MigrationPolicyOptions>(o =>
            {
                // A guest that out-dirties a throttled link never converges to a 0.2 ms target.
                o.Policies["stall-escalate"] = new MigrationPolicy { Name = "stall-escalate", DowntimeTargetMs = 0.2, LinkBandwidthBytesPerSecond = 20_000_000, StallMs = 300, OnStall = StallAction.Escalate, MaxDowntimeTargetMs = 3.2 };
                o.Policies["notify"] = new MigrationPolicy { Name = "notify", NotifyOwner = true };
                // A guest that out-dirties a 4 MB/s link iterates until its limits (30 rounds of about 2 s; 10 minutes),
                // unless forced; the short one's 1 s time limit forces the switchover after the first round.
                o.Policies["long-limit"] = new MigrationPolicy { Name = "long-limit", DowntimeTargetMs = 0.2, LinkBandwidthBytesPerSecond = 4_000_000, CompletionTimeoutMsPerGiB = 150_000, StallMs = 600_000, OnStall = StallAction.Abort };
                o.Policies["short-limit"] = new MigrationPolicy { Name = "short-limit", DowntimeTargetMs = 0.2, LinkBandwidthBytesPerSecond = 4_000_000, CompletionTimeoutMsPerGiB = 100, StallMs = 600_000, OnStall = StallAction.Abort, OnTimeout = TimeoutAction.Force };
                o.Policies["stall-abort"] = new MigrationPolicy { Name = "stall-abort", DowntimeTargetMs = 0.2, LinkBandwidthBytesPerSecond = 20_000_000, StallMs = 300, OnStall = StallAction.Abort };
                // Cold moves: a pass-through class whose guests get 300 ms to power off; one whose maintenance window is
                // open for the next hours (drains and campaigns move cold only inside it); one that never moves cold.
                o.Policies["cold-quick"] = MigrationPolicy.BuiltIn["passthrough"] with { Name = "cold-quick", ColdShutdownTimeoutMs = 300 };
                o.Policies["cold-window"] = MigrationPolicy.BuiltIn["passthrough"] with { Name = "cold-window", ColdShutdownTimeoutMs = 300, MaintenanceWindowUtc = OpenWindow() };
                o.Policies["no-cold"] = new MigrationPolicy { Name = "no-cold", ColdMove = ColdMove.Never };
            });
            silo.AddOmigMemoryStorage();
            silo.UseInMemoryReminderService();
            silo.AddOrleansMigrateCore(SiloRole.All, SiloMetadataKeys.AnyHost);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        Client = new OmigClient(Cluster.Client);
        foreach (var host in HostIds)
        {
            await Client.AddHostAsync(TestFleet.Host(host, cores: 256, memoryMiB: 1024 * 1024));
        }
    }

    /// <summary>A maintenance window (UTC) that opened an hour ago and stays open for the next three hours.</summary>
    public static string OpenWindow()
    {
        var now = DateTimeOffset.UtcNow;
        return $"{now.AddHours(-1):HH:mm}-{now.AddHours(3):HH:mm}";
    }

    /// <summary>A fresh VM on <paramref name="hostId"/> with two disks and a NIC; its guest dirties memory.</summary>
    public async Task<VmSpec> CreateVmAsync(string hostId = "m-1", int dirtyMbps = 5)
    {
        var id = TestFleet.Unique("mv");
        var spec = TestFleet.Vm(id, vcpus: 2, memoryMiB: 4096, ip: TestFleet.RandomIp()) with
        {
            Disks = [new DiskSpec(id + "-a", 10), new DiskSpec(id + "-b", 20)],
            Labels = ImmutableDictionary<string, string>.Empty.Add("sim.dirty-mbps", dirtyMbps.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        };
        await Client.CreateVmAsync(spec, hostId);
        return spec;
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class MigrationCollection : ICollectionFixture<MigrationClusterFixture>
{
    public const string Name = "migration";
}
