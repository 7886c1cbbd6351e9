using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Cli.Tests;

/// <summary><c>omig migration force-complete</c> through the real process: a migration that is no longer in pre-copy is
/// refused with its own exit code and the reason, and nothing changes; <c>migration show</c> says why it switched over.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(EmbeddedCollection.Name)]
public sealed class ForceCompleteCommandTests(EmbeddedFixture fixture)
{
    [Fact]
    public async Task Force_completing_a_completed_migration_exits_with_not_in_pre_copy_and_show_names_the_switchover_reason()
    {
        var (_, to, vm) = await fixture.FleetAsync();
        var migration = await fixture.MigrateToEndAsync(vm.VmId, to);
        Assert.Equal(MigrationPhase.Completed, migration.Phase);

        var (code, stdout, stderr) = await fixture.OmigAsync("migration", "force-complete", migration.MigrationId);

        Assert.Equal(ExitCodes.NotInPreCopy, code);
        Assert.Contains($"migration '{migration.MigrationId}' cannot be force-completed: it has completed", stderr, StringComparison.Ordinal);
        Assert.Equal("", stdout);
        Assert.Equal(MigrationPhase.Completed, (await fixture.Client.GetMigrationAsync(migration.MigrationId)).Phase);

        var (showCode, show, _) = await fixture.OmigAsync("migration", "show", migration.MigrationId);
        Assert.Equal(ExitCodes.Ok, showCode);
        Assert.Contains($"switchover reason: {migration.SwitchoverReason}", show, StringComparison.Ordinal);
        Assert.NotNull(migration.SwitchoverReason);
    }
}
