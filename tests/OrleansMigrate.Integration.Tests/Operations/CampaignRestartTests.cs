using System.Collections.Immutable;
using System.Diagnostics;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Operations;
using OrleansMigrate.Tests.Shared;
using Xunit.Abstractions;

namespace OrleansMigrate.Tests.Operations;

/// <summary>A rolling-upgrade campaign on PostgreSQL survives its control plane: both control silos are killed with
/// SIGKILL in the middle of the campaign and started again; the campaign carries on from its persisted state and
/// ends with every host upgraded and every VM running.</summary>
[Collection(PostgresCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Postgres)]
public sealed class CampaignRestartTests(PostgresFixture pg, ITestOutputHelper output)
{
    private static readonly string[] Hosts = ["u-1", "u-2", "u-3"];

    [Fact]
    public async Task A_campaign_carries_on_after_its_control_silos_are_killed_and_restarted()
    {
        var clusterId = "camp-" + Guid.NewGuid().ToString("N")[..8];
        var controls = new[] { "control-1", "control-2" }.Select(n => new SiloProcess(n, "control", "", pg.ConnectionString, clusterId, "--Omig:Maintenance:SimulatedUpgradeMs=3000")).ToArray();
        await using var hostSilo = new SiloProcess("hosts", "host", string.Join(',', Hosts), pg.ConnectionString, clusterId);
        try
        {
            await Task.WhenAll(controls.Select(c => c.StartAsync()));
            await hostSilo.StartAsync();
            await using var client = await OmigClient.ConnectAsync(new OmigClientOptions
            {
                PostgresConnectionString = pg.ConnectionString, ClusterId = clusterId, ServiceId = clusterId, ConnectTimeout = TimeSpan.FromSeconds(60),
            });
            foreach (var h in Hosts)
            {
                await client.AddHostAsync(new HostSpec(h, 64, 262144, "Xeon", ["avx2"], 3, "1.0.0", "6.1.0", "7.2.0", ImmutableDictionary<string, string>.Empty.Add("pool", "blue")));
            }

            var vms = new List<string>();
            for (var i = 0; i < 4; i++)
            {
                var id = $"cu-{i}";
                await client.CreateVmAsync(new VmSpec(id, 2, 4096, [], "standard",
                    ImmutableDictionary<string, string>.Empty.Add(SimulatedVmSpecs.MemoryLabel, "16").Add(SimulatedVmSpecs.DirtyLabel, "5"),
                    [new DiskSpec(id + "-root", 10)], [new NicSpec("vpc-cu", $"10.66.0.{10 + i}", $"02:00:00:00:66:{10 + i:x2}")], []), Hosts[1 + (i % 2)]);
                vms.Add(id);
            }

            var campaign = await client.StartCampaignAsync(new CampaignSpec("2.0.0", "pool", "blue", Batch: 1, MaxParallelMigrations: 2), "camp-restart");

            // Kill the whole control plane once the second host is being worked on (the first, empty one is done).
            var clock = Stopwatch.StartNew();
            try
            {
                campaign = await Eventually.UntilAsync(async () => campaign = await client.GetCampaignAsync(campaign.CampaignId),
                    c => c.Hosts.Any(h => h.State == CampaignHostState.Done) && !c.Hosts.All(h => h.State is CampaignHostState.Waiting or CampaignHostState.Done),
                    TimeSpan.FromMinutes(3), "the campaign gets going", TimeSpan.FromMilliseconds(200));
            }
            catch (TimeoutException)
            {
                Assert.Fail("the campaign did not get going: " + Describe(campaign));
            }

            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0}s before the kill: {Describe(campaign)}");
            foreach (var c in controls)
            {
                await c.KillAsync();
            }

            await Task.WhenAll(controls.Select(c => c.StartAsync()));
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0}s control silos back");

            clock.Restart();
            try
            {
                // The client's gateways are coming back: those errors are retried.
                campaign = await Eventually.UntilAsync(async () => campaign = await client.GetCampaignAsync(campaign.CampaignId),
                    c => c.IsEnded || c.State == CampaignState.Paused, TimeSpan.FromMinutes(4), "the campaign finishes after the restart",
                    TimeSpan.FromMilliseconds(500), ex => ex is OmigException or TimeoutException or OrleansException);
            }
            catch (TimeoutException)
            {
                Assert.Fail("the campaign did not finish after the restart: " + Describe(campaign));
            }

            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0}s after the restart: {Describe(campaign)}");
            Assert.Equal(CampaignState.Completed, campaign.State);
            Assert.Equal(3, campaign.HostsUpgraded);
            foreach (var h in Hosts)
            {
                var host = await client.GetHostAsync(h);
                Assert.Equal("2.0.0", host.Spec.FirmwareVersion);
                Assert.Equal(SchedulingState.Schedulable, host.Scheduling);
            }

            foreach (var vm in vms)
            {
                Assert.Equal(PowerState.Running, (await client.GetVmAsync(vm)).Power);
            }

            var audit = await FleetAuditor.AuditAsync(client);
            Assert.True(audit.Clean, string.Join("; ", audit.Findings.Select(f => $"{f.Invariant} {f.Subject}: {f.Detail}")));
        }
        finally
        {
            foreach (var c in controls)
            {
                output.WriteLine(c.Output.Length > 4000 ? c.Output[^4000..] : c.Output);
                await c.DisposeAsync();
            }
        }
    }

    private static string Describe(CampaignStatus c) => $"{c.State}: " + string.Join(", ", c.Hosts.Select(h => $"{h.HostId} {h.State}{(h.Reason is null ? "" : " (" + h.Reason + ")")}"));
}
