using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Client;
using OrleansMigrate.Grains.Audit;

namespace OrleansMigrate.Tests.Audit;

/// <summary>In the audit collection so that its cluster's audit gauges never overlap the gauge test's.</summary>
[Collection(AuditCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class AuditorFailoverTests
{
    [Fact]
    public async Task Another_control_silo_carries_on_when_the_auditors_silo_dies()
    {
        // A host silo (primary) and two control silos; the auditor lands on one of the control silos.
        var cluster = AuditClusterFixture.Build(3, "f-1");
        await cluster.DeployAsync();
        try
        {
            var client = new OmigClient(cluster.Client);
            var first = await AuditClusterFixture.WaitForAsync(client, s => s.LastReport is not null, "a completed pass");
            var holder = cluster.Silos.Single(s => s.SiloAddress.ToParsableString() == first.Silo);
            Assert.NotEqual("Silo_0", holder.Name);

            // Only the auditor's silo reports the audit gauges; the other control silo (which drives it too) reports none.
            Assert.Equal([holder.Name], ReportingSilos(cluster));

            await cluster.KillSiloAsync(holder);
            var killed = DateTimeOffset.UtcNow;

            var next = await AuditClusterFixture.WaitForAsync(client, s => s.Silo != first.Silo && s.LastPassAt > killed,
                "a pass on the surviving control silo", TimeSpan.FromSeconds(120));
            var survivor = Assert.Single(cluster.Silos, s => s != holder && s.SiloAddress.ToParsableString() == next.Silo);
            Assert.Equal([survivor.Name], ReportingSilos(cluster, except: holder));
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    /// <summary>Silos whose <see cref="AuditTelemetry"/> has a report to show (what the gauges observe).</summary>
    private static string[] ReportingSilos(Orleans.TestingHost.InProcessTestCluster cluster, Orleans.TestingHost.InProcessSiloHandle? except = null) =>
        [.. cluster.Silos.Where(s => s != except && s.ServiceProvider.GetRequiredService<AuditTelemetry>().Last is not null).Select(s => s.Name)];
}
