using OrleansMigrate.Tests.Shared;
using System.Text.Json;

namespace OrleansMigrate.Tests.Cluster;

/// <summary>The continuous invariant auditor in two silo processes on PostgreSQL, read through <c>omig audit --last</c>.</summary>
[Collection(PostgresCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Postgres)]
public sealed class ContinuousAuditTests(PostgresFixture pg)
{
    [Fact]
    public async Task Omig_audit_last_shows_the_continuous_report_and_the_other_silo_carries_on_when_one_dies()
    {
        var clusterId = "it-" + Guid.NewGuid().ToString("N")[..10];
        var cli = new OmigCli(pg.ConnectionString, clusterId);
        await using var a = new SiloProcess("silo-a", "all", "h-1", pg.ConnectionString, clusterId, "--audit-interval", "1");
        await using var b = new SiloProcess("silo-b", "all", "h-2", pg.ConnectionString, clusterId, "--audit-interval", "1");
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        await cli.JsonAsync("host", "add", "h-1", "--cores", "16", "--memory", "64G");
        await cli.JsonAsync("host", "add", "h-2", "--cores", "16", "--memory", "64G");
        await cli.JsonAsync("vm", "create", "vm-1", "--host", "h-1", "--nic", "vpc-1:10.0.0.5");
        await cli.JsonAsync("vm", "create", "vm-2", "--host", "h-2", "--nic", "vpc-1:10.0.0.6");

        // A clean fleet: exit 0, every invariant counted 0.
        var clean = await EventuallyAsync(TimeSpan.FromSeconds(60), async () =>
        {
            var (code, stdout, _) = await cli.RunAsync("audit", "--last", "--json");
            return code == 0 && JsonDocument.Parse(stdout).RootElement is var r && r.GetProperty("last_report").GetProperty("vms_checked").GetInt32() == 2
                ? r.Clone()
                : (JsonElement?)null;
        });
        Assert.All(clean.GetProperty("counts").EnumerateObject(), c => Assert.Equal(0, c.Value.GetInt32()));
        Assert.Contains("vm-runs-once", clean.GetProperty("counts").EnumerateObject().Select(c => c.Name));
        var holder = clean.GetProperty("silo_name").GetString();
        Assert.Contains(holder, new[] { "silo-a", "silo-b" });

        var (refused, _, stderr) = await cli.RunAsync("audit", "--last", "--stuck-after-min", "5");
        Assert.Equal(2, refused);
        Assert.Contains("--stuck-after-min", stderr);

        // Kill the silo the auditor runs on: the other one carries on (its state in PostgreSQL) and finds the dead silo's host
        // unreachable (exit 1).
        await (holder == "silo-a" ? a : b).KillAsync();
        var survivor = holder == "silo-a" ? "silo-b" : "silo-a";
        var after = await EventuallyAsync(TimeSpan.FromSeconds(180), async () =>
        {
            var (code, stdout, _) = await cli.RunAsync("audit", "--last", "--json");
            return code == 1 && JsonDocument.Parse(stdout).RootElement is var r && r.GetProperty("silo_name").GetString() == survivor
                   && r.GetProperty("counts").GetProperty("unreachable").GetInt32() == 1
                ? r.Clone()
                : (JsonElement?)null;
        });
        Assert.True(after.GetProperty("passes").GetInt64() > clean.GetProperty("passes").GetInt64());
        var dead = holder == "silo-a" ? "h-1" : "h-2";
        Assert.Contains(after.GetProperty("last_report").GetProperty("findings").EnumerateArray(),
            f => f.GetProperty("invariant").GetString() == "unreachable" && f.GetProperty("subject").GetString() == dead);
        Assert.DoesNotContain("could not save its state", (holder == "silo-a" ? b : a).Output, StringComparison.Ordinal);
    }

    private static Task<JsonElement> EventuallyAsync(TimeSpan limit, Func<Task<JsonElement?>> probe) =>
        Eventually.SomeAsync(probe, limit, "the auditor's report", TimeSpan.FromSeconds(1));
}
