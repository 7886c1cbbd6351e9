using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.TestingHost;
using OrleansMigrate.Audit;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Audit;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Audit;

/// <summary>
/// Two silos with the continuous auditor running a pass every <see cref="Interval"/>: the primary serves hosts a-1 and
/// a-2 (host role only), the second is the control silo the auditor runs on. Tests of the collection run one at a time;
/// a test that breaks an invariant repairs it before it ends.
/// </summary>
public sealed class AuditClusterFixture : IAsyncLifetime
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);

    public static readonly string[] HostIds = ["a-1", "a-2"];

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public OmigClient Client { get; private set; } = null!;

    /// <summary>The hypervisors of a-1 and a-2, behind the registry's back.</summary>
    public IHostRuntime Runtime => Cluster.Silos.Single(s => s.Name == "Silo_0").ServiceProvider.GetRequiredService<IHostRuntime>();

    public async Task InitializeAsync()
    {
        Cluster = Build(2, string.Join(',', HostIds));
        await Cluster.DeployAsync();
        Client = new OmigClient(Cluster.Client);
        foreach (var host in HostIds)
        {
            await Client.AddHostAsync(TestFleet.Host(host));
        }
    }

    /// <summary>A cluster whose primary silo serves <paramref name="hosts"/> (host role) and whose other silos are control silos
    /// running the auditor every <see cref="Interval"/>.</summary>
    public static InProcessTestCluster Build(short silos, string hosts)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        builder.ConfigureSilo((options, silo) =>
        {
            silo.Services.Configure<HostRuntimeOptions>(o => o.SimulatedGuestMiB = 8);
            silo.Services.Configure<InvariantAuditOptions>(o => o.Interval = Interval);
            silo.AddOmigMemoryStorage();
            silo.UseInMemoryReminderService();
            silo.AddOrleansMigrateCore(options.SiloName == "Silo_0" ? SiloRole.Host : SiloRole.Control, options.SiloName == "Silo_0" ? hosts : "");
        });
        return builder.Build();
    }

    /// <summary>A fresh running VM with a disk and a NIC on <paramref name="hostId"/>.</summary>
    public async Task<VmSpec> CreateVmAsync(string hostId)
    {
        var spec = TestFleet.Vm(TestFleet.Unique("au"), ip: TestFleet.RandomIp(), vpc: "vpc-audit");
        await Client.CreateVmAsync(spec, hostId);
        return spec;
    }

    /// <summary>Polls the auditor's status until <paramref name="until"/> holds; fails with the last status after <paramref name="deadline"/>
    /// (default 30 s). Calls that fail while the cluster recovers are retried.</summary>
    public static async Task<AuditorStatus> WaitForAsync(OmigClient client, Func<AuditorStatus, bool> until, string what, TimeSpan? deadline = null)
    {
        var limit = deadline ?? TimeSpan.FromSeconds(30);
        using var cts = new CancellationTokenSource(limit);
        AuditorStatus? last = null;
        try
        {
            return await Eventually.UntilAsync(async () => last = await client.GetAuditorStatusAsync().WaitAsync(cts.Token), until, limit,
                $"the auditor shows {what}", TimeSpan.FromMilliseconds(100), transient: _ => !cts.IsCancellationRequested);
        }
        catch (Exception ex) when (ex is TimeoutException || cts.IsCancellationRequested)
        {
            Assert.Fail($"the auditor never showed {what}; last status: {last}; " +
                $"findings: [{string.Join("; ", last?.LastReport?.Findings.Select(f => $"{f.Invariant} {f.Subject}: {f.Detail}") ?? [])}]; {ex.GetBaseException().Message}");
            return last!;
        }
    }

    public Task<AuditorStatus> WaitForAsync(Func<AuditorStatus, bool> until, string what) => WaitForAsync(Client, until, what);

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class AuditCollection : ICollectionFixture<AuditClusterFixture>
{
    public const string Name = "audit";
}
