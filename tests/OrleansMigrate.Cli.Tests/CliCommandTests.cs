using System.Text.Json;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Cli.Tests;

/// <summary>The real <c>omig</c> process against an embedded cluster.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(EmbeddedCollection.Name)]
public sealed class CliCommandTests(EmbeddedFixture fixture)
{
    [Fact]
    public async Task Cancelling_a_completed_migration_says_nothing_was_cancelled_with_its_own_exit_code()
    {
        var (_, to, vm) = await fixture.FleetAsync();
        var migration = await fixture.MigrateToEndAsync(vm.VmId, to);
        Assert.Equal(MigrationPhase.Completed, migration.Phase);

        var (code, stdout, stderr) = await fixture.OmigAsync("migration", "cancel", migration.MigrationId);

        Assert.Equal(ExitCodes.AlreadyEnded, code);
        Assert.Contains($"migration {migration.MigrationId} already completed, nothing cancelled", stderr, StringComparison.Ordinal);
        Assert.Equal("", stdout);
        Assert.Equal(MigrationPhase.Completed, (await fixture.Client.GetMigrationAsync(migration.MigrationId)).Phase);
    }

    [Theory]
    [InlineData(MigrationPhase.RolledBack, "already rolled back, nothing cancelled")]
    [InlineData(MigrationPhase.Failed, "already failed, nothing cancelled")]
    [InlineData(MigrationPhase.PostMigration, "is past its commit point (post_migration) and will complete, nothing cancelled")]
    public void A_cancel_that_cancels_nothing_says_why(MigrationPhase phase, string reason) =>
        Assert.Equal($"migration mig-1 {reason}", MigrationCommands.CancelRefusal("mig-1", phase));

    [Fact]
    public async Task A_second_drain_of_a_host_being_drained_joins_it_and_status_keeps_the_earlier_drains()
    {
        // A VM no other host can take (a CPU flag only its host has) keeps the drain running, pending, for a minute.
        var id = Guid.NewGuid().ToString("N")[..8];
        var flag = "only_" + id;
        var host = $"h-only-{id}";
        await fixture.Client.AddHostAsync(new Fleet.HostSpec(host, 16, 65536, "Xeon", ["avx", flag], 3, "1.0.0", "6.1.0", "7.2.0",
            System.Collections.Immutable.ImmutableDictionary<string, string>.Empty));
        await fixture.Client.CreateVmAsync(new Fleet.VmSpec($"vm-only-{id}", 1, 1024, [flag], "standard",
            System.Collections.Immutable.ImmutableDictionary<string, string>.Empty, [new Fleet.DiskSpec($"vm-only-{id}-root", 10)], [], []), host);

        var first = await fixture.OmigAsync("host", "drain", host);
        var second = await fixture.OmigAsync("host", "drain", host, "--max-parallel", "1");

        Assert.True(first.Code == 0, first.Stderr);
        Assert.DoesNotContain("already being drained", first.Stderr, StringComparison.Ordinal);
        Assert.True(second.Code == 0, second.Stderr);
        Assert.Contains($"host {host} is already being drained", second.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, (await fixture.Client.GetDrainAsync(host)).Options.MaxParallel);

        var aborted = await fixture.OmigAsync("host", "drain", host, "--abort", "--reason", "test", "--wait");
        Assert.True(aborted.Code == ExitCodes.NotCompleted, aborted.Stderr);
        var third = await fixture.OmigAsync("host", "drain", host);
        Assert.DoesNotContain("already being drained", third.Stderr, StringComparison.Ordinal);
        var status = await fixture.OmigAsync("host", "drain", host, "--status");
        var json = await fixture.OmigAsync("host", "drain", host, "--status", "--json");

        Assert.Contains($"earlier drains of {host}, newest first:", status.Stdout, StringComparison.Ordinal);
        Assert.Contains("aborted", status.Stdout, StringComparison.Ordinal);
        var previous = JsonDocument.Parse(json.Stdout).RootElement.GetProperty("previous");
        Assert.Equal("aborted", Assert.Single(previous.EnumerateArray()).GetProperty("state").GetString());
        await fixture.Client.AbortDrainAsync(host, "test over");
    }

    [Fact]
    public async Task Host_list_names_the_silo_running_each_hosts_agent()
    {
        var (from, _, _) = await fixture.FleetAsync();

        var (code, stdout, stderr) = await fixture.OmigAsync("host", "list", "--json");
        var (tableCode, table, _) = await fixture.OmigAsync("host", "list");

        Assert.True(code == 0, stderr);
        var host = JsonDocument.Parse(stdout).RootElement.EnumerateArray().Single(h => h.GetProperty("host_id").GetString() == from);
        Assert.Equal("omig-embedded", host.GetProperty("agent").GetString());
        Assert.Equal(0, tableCode);
        Assert.Contains("AGENT", table, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Policy_list_shows_each_policys_migration_channels()
    {
        var (code, stdout, stderr) = await fixture.OmigAsync("policy", "list", "--json");
        var (tableCode, table, _) = await fixture.OmigAsync("policy", "list");

        Assert.True(code == 0, stderr);
        var standard = JsonDocument.Parse(stdout).RootElement.EnumerateArray().Single(p => p.GetProperty("name").GetString() == "standard");
        Assert.Equal(1, standard.GetProperty("migration_channels").GetInt32());
        Assert.Equal(0, tableCode);
        Assert.Contains("CHANNELS", table, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, "1")]
    [InlineData(1, "1")]
    [InlineData(4, "4 (multifd)")]
    public void Migration_channels_read_as_one_stream_or_multifd(int channels, string shown) => Assert.Equal(shown, PolicyCommands.Channels(channels));

    [Fact]
    public async Task A_dry_run_shows_the_VMs_memory_not_the_simulated_backing_and_a_no_is_not_a_rollback()
    {
        var (_, to, vm) = await fixture.FleetAsync(vmMemoryMiB: 32768);

        var (code, stdout, stderr) = await fixture.OmigAsync("vm", "migrate", vm.VmId, "--to", to, "--dry-run", "--sample-ms", "200");

        Assert.True(code is ExitCodes.Ok or ExitCodes.PreflightNo, $"exit {code}: {stderr}");
        var memory = stdout.Split('\n').Single(l => l.TrimStart().StartsWith("memory", StringComparison.Ordinal));
        Assert.Contains("32G", memory, StringComparison.Ordinal);
        Assert.DoesNotContain("0.06", memory, StringComparison.Ordinal);
    }
}
