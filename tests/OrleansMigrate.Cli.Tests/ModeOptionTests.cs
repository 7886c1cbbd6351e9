using System.Text.Json;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Errors;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Cli.Tests;

/// <summary><c>--mode</c>: every orchestration mode by its user-facing name, with dashes like the switches or with the
/// underscores of the JSON, in any case; anything else refused naming the switch and listing the names.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class ModeOptionTests
{
    [Theory]
    [InlineData("parallel", OrchestrationMode.Parallel)]
    [InlineData("Serial", OrchestrationMode.Serial)]
    [InlineData("no-relay", OrchestrationMode.NoRelay)]
    [InlineData("no_relay", OrchestrationMode.NoRelay)]
    [InlineData("NoRelay", OrchestrationMode.NoRelay)]
    [InlineData("no-session-copy", OrchestrationMode.NoSessionCopy)]
    [InlineData("NO_SESSION_COPY", OrchestrationMode.NoSessionCopy)]
    public void Each_mode_is_read_by_its_name(string text, OrchestrationMode mode) =>
        Assert.Equal(mode, MigrationCommands.ParseEnum<OrchestrationMode>("--mode", text));

    [Theory]
    [InlineData("sideways")]
    [InlineData("2")]
    [InlineData("no-relays")]
    [InlineData("")]
    public void An_unknown_mode_is_refused_naming_the_switch_and_the_modes(string text)
    {
        var ex = Assert.Throws<OmigException>(() => MigrationCommands.ParseEnum<OrchestrationMode>("--mode", text));

        Assert.Equal(OmigErrorCode.InvalidArgument, ex.Code);
        Assert.Equal("--mode", ex.Field);
        Assert.Contains("parallel, serial, no-relay, no-session-copy", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_priority_is_read_the_same_way() =>
        Assert.Equal(MigrationPriority.Maintenance, MigrationCommands.ParseEnum<MigrationPriority>("--priority", "maintenance"));
}

/// <summary><c>omig vm migrate --mode</c> against an embedded cluster: a comparison mode is sent, run and shown by its name.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(EmbeddedCollection.Name)]
public sealed class ModeCommandTests(EmbeddedFixture fixture)
{
    [Theory]
    [InlineData("no-relay", "no_relay")]
    [InlineData("no-session-copy", "no_session_copy")]
    public async Task A_comparison_mode_runs_and_the_migration_shows_it_by_name(string option, string shown)
    {
        var (_, to, vm) = await fixture.FleetAsync();

        var (code, stdout, stderr) = await fixture.OmigAsync("vm", "migrate", vm.VmId, "--to", to, "--mode", option, "--json");

        Assert.True(code == ExitCodes.Ok, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal(shown, json.RootElement.GetProperty("request").GetProperty("mode").GetString());
        var id = json.RootElement.GetProperty("migration_id").GetString()!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (var _ in fixture.Client.WatchMigrationAsync(id, cts.Token))
        {
        }

        Assert.Equal(MigrationPhase.Completed, (await fixture.Client.GetMigrationAsync(id)).Phase);
        var show = await fixture.OmigAsync("migration", "show", id);
        Assert.True(show.Code == ExitCodes.Ok, show.Stderr);
        Assert.Contains(shown, show.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_mode_is_refused_naming_the_switch()
    {
        var (_, to, vm) = await fixture.FleetAsync();

        var (code, _, stderr) = await fixture.OmigAsync("vm", "migrate", vm.VmId, "--to", to, "--mode", "sideways");

        Assert.Equal(ExitCodes.InvalidInput, code);
        Assert.Contains("--mode", stderr, StringComparison.Ordinal);
        Assert.Contains("no-session-copy", stderr, StringComparison.Ordinal);
    }
}
