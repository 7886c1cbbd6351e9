using OrleansMigrate.Tests.Shared;
using System.Text.Json;

namespace OrleansMigrate.Tests.Cluster;

/// <summary>Two silo processes on PostgreSQL, driven through the real CLI.</summary>
[Collection(PostgresCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Postgres)]
public sealed class PostgresClusterTests(PostgresFixture pg)
{
    [Fact]
    public async Task A_fleet_registered_through_the_CLI_survives_a_restart_of_both_silos_and_bad_input_changes_nothing()
    {
        var clusterId = "it-" + Guid.NewGuid().ToString("N")[..10];
        var cli = new OmigCli(pg.ConnectionString, clusterId);
        await using (var a = new SiloProcess("silo-a", "all", "h-1", pg.ConnectionString, clusterId))
        await using (var b = new SiloProcess("silo-b", "all", "h-2", pg.ConnectionString, clusterId))
        {
            await Task.WhenAll(a.StartAsync(), b.StartAsync());
            await cli.JsonAsync("host", "add", "h-1", "--cores", "16", "--memory", "64G", "--cpu-features", "avx,avx2", "--firmware", "2.1.0");
            await cli.JsonAsync("host", "add", "h-2", "--cores", "16", "--memory", "64G", "--cpu-features", "avx,avx2", "--firmware", "2.1.0");
            await cli.JsonAsync("vm", "create", "vm-a", "--host", "h-1", "--vcpus", "4", "--memory", "8G", "--nic", "vpc-1:10.0.0.5");
            await cli.JsonAsync("vm", "create", "vm-b", "--host", "h-2", "--vcpus", "2", "--memory", "4G", "--nic", "vpc-1:10.0.0.6");

            await AssertRefusedAsync(cli, 2, "cores", "host", "add", "h-3", "--cores", "-2", "--memory", "1G");
            await AssertRefusedAsync(cli, 2, "memory", "vm", "create", "vm-n", "--host", "h-1", "--memory", "-4G");
            await AssertRefusedAsync(cli, 4, "vm_id", "vm", "create", "vm-a", "--host", "h-1");
            await AssertRefusedAsync(cli, 4, "host_id", "host", "add", "h-1", "--cores", "8", "--memory", "8G");
            await AssertRefusedAsync(cli, 3, "host", "vm", "create", "vm-x", "--host", "h-9");
            await AssertRefusedAsync(cli, 5, "vcpus", "vm", "create", "vm-y", "--host", "h-1", "--vcpus", "13");
            await AssertRefusedAsync(cli, 6, "avx512f", "vm", "create", "vm-z", "--host", "h-1", "--cpu-features", "avx512f");
            await AssertRefusedAsync(cli, 2, "--bogus", "host", "add", "h-4", "--cores", "8", "--memory", "8G", "--bogus");
            await AssertRefusedAsync(cli, 4, "10.0.0.5", "vm", "create", "vm-w", "--host", "h-2", "--nic", "vpc-1:10.0.0.5");

            await AssertFleetAsync(cli);
            await Task.WhenAll(a.StopAsync(), b.StopAsync());
        }

        await using var a2 = new SiloProcess("silo-a", "all", "h-1", pg.ConnectionString, clusterId);
        await using var b2 = new SiloProcess("silo-b", "all", "h-2", pg.ConnectionString, clusterId);
        await Task.WhenAll(a2.StartAsync(), b2.StartAsync());

        await AssertFleetAsync(cli);
        var shown = await cli.JsonAsync("host", "show", "h-2");
        Assert.Equal("silo-b", shown.GetProperty("agent").GetProperty("silo_name").GetString());
        Assert.Contains("vm-b", shown.GetProperty("agent").GetProperty("running_vms").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task Killing_a_silo_fails_its_hosts_agents_fast_and_the_control_grains_carry_on_from_the_other()
    {
        var clusterId = "it-" + Guid.NewGuid().ToString("N")[..10];
        var cli = new OmigCli(pg.ConnectionString, clusterId);
        await using var a = new SiloProcess("silo-a", "all", "h-1", pg.ConnectionString, clusterId);
        await using var b = new SiloProcess("silo-b", "all", "h-2", pg.ConnectionString, clusterId);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        await cli.JsonAsync("host", "add", "h-1", "--cores", "16", "--memory", "64G");
        await cli.JsonAsync("host", "add", "h-2", "--cores", "16", "--memory", "64G");
        await cli.JsonAsync("vm", "create", "vm-1", "--host", "h-1");
        await cli.JsonAsync("vm", "create", "vm-2", "--host", "h-2");

        await b.KillAsync();

        // Until membership declares silo-b dead, calls routed to it may time out; after that the
        // agent of h-2 must fail at once with a clear reason, and never activate on silo-a.
        var agentError = await EventuallyAsync(TimeSpan.FromSeconds(120), async () =>
        {
            var (code, stdout, _) = await cli.RunAsync("host", "show", "h-2", "--json");
            if (code != 0)
            {
                return null;
            }

            // Timeouts are reported too while membership still counts silo-b; wait for the verdict
            // that only comes once it is declared dead: no live silo serves the host.
            var error = JsonDocument.Parse(stdout).RootElement.GetProperty("agent_error");
            return error.ValueKind == JsonValueKind.String && error.GetString()!.Contains("no live silo serves host", StringComparison.Ordinal)
                ? error.GetString()
                : null;
        });
        Assert.Contains("'h-2'", agentError);

        var (refused, _, stderr) = await cli.RunAsync("vm", "create", "vm-3", "--host", "h-2");
        Assert.Equal(7, refused);
        Assert.Contains("h-2", stderr);

        await EventuallyAsync(TimeSpan.FromSeconds(60), async () =>
            (await cli.RunAsync("vm", "create", "vm-4", "--host", "h-1")).Code == 0 ? "ok" : null);
        var vms = await cli.JsonAsync("vm", "list");
        var ids = vms.EnumerateArray().Select(v => v.GetProperty("spec").GetProperty("vm_id").GetString()).ToList();
        Assert.Contains("vm-4", ids);
        Assert.DoesNotContain("vm-3", ids);
        var h2 = (await cli.JsonAsync("host", "show", "h-2")).GetProperty("host");
        Assert.Single(h2.GetProperty("vms").EnumerateObject());
    }

    private static async Task AssertFleetAsync(OmigCli cli)
    {
        var hosts = await cli.JsonAsync("host", "list");
        Assert.Equal(["h-1", "h-2"], hosts.EnumerateArray().Select(h => h.GetProperty("spec").GetProperty("host_id").GetString()!).Order().ToArray());
        Assert.Equal(["vm-a"], hosts.EnumerateArray().First(h => h.GetProperty("spec").GetProperty("host_id").GetString() == "h-1").GetProperty("vms").EnumerateObject().Select(p => p.Name).ToArray());
        var vms = await cli.JsonAsync("vm", "list");
        Assert.Equal(["vm-a", "vm-b"], vms.EnumerateArray().Select(v => v.GetProperty("spec").GetProperty("vm_id").GetString()!).Order().ToArray());
    }

    private static async Task AssertRefusedAsync(OmigCli cli, int expectedCode, string mentioned, params string[] args)
    {
        var (code, _, stderr) = await cli.RunAsync(args);
        Assert.True(code == expectedCode, $"omig {string.Join(' ', args)}: expected exit {expectedCode}, got {code}: {stderr}");
        Assert.Contains(mentioned, stderr);
    }

    private static Task<string> EventuallyAsync(TimeSpan limit, Func<Task<string?>> probe) =>
        Eventually.ObjectAsync(probe, limit, "the expected answer", TimeSpan.FromSeconds(1));
}
