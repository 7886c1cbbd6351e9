using System.Collections.Immutable;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Cli.Output;
using OrleansMigrate.Cluster;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Cli.Tests;

[Trait(TestCategory.Trait, TestCategory.Unit)]
[Collection(EmbeddedCollection.Name)]
public sealed class RenderTests(EmbeddedFixture fixture)
{
    [Fact]
    public async Task A_phase_has_one_spelling_in_tables_and_JSON()
    {
        var (_, to, vm) = await fixture.FleetAsync();
        var rollingBack = await fixture.MigrateToEndAsync(vm.VmId, to) with { Phase = MigrationPhase.RollingBack };

        var table = Text.Of(Render.Migrations([rollingBack]));
        var json = Json.Serialize(rollingBack);

        Assert.Equal("rolling_back", Render.PhaseName(MigrationPhase.RollingBack));
        Assert.Contains("rolling_back", table, StringComparison.Ordinal);
        Assert.Contains("\"phase\": \"rolling_back\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("rollingback", table + json, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("rolled_back", Naming.EnumNames.Of(MigrationPhase.RolledBack));
    }

    [Fact]
    public async Task The_downtime_table_names_the_final_copy_once_and_a_simulated_report_does_not_explain_itself_with_QEMU()
    {
        var (_, to, vm) = await fixture.FleetAsync();
        var migration = await fixture.MigrateToEndAsync(vm.VmId, to);
        Assert.Equal(MigrationPhase.Completed, migration.Phase);
        Assert.NotNull(migration.Downtime);
        var idle = migration with { Hypervisor = migration.Hypervisor! with { DirtyRateBytesPerSecond = 0 } };

        var report = Text.Of(Render.MigrationReport(idle), width: 200);

        // The breakdown of durations names the final copy once; the timeline below it lists moments on one clock.
        var timelineAt = report.IndexOf("SWITCHOVER TIMELINE", StringComparison.Ordinal);
        Assert.True(timelineAt > 0, report);
        Assert.Contains("RESUME", report[timelineAt..], StringComparison.Ordinal);
        Assert.Contains("STOP", report[timelineAt..], StringComparison.Ordinal);
        var labels = report[..timelineAt].Split('\n').Select(l => l.Split('│', StringSplitOptions.TrimEntries)).Where(c => c.Length > 2).Select(c => c[1]).ToList();
        Assert.True(labels.Count(l => l == "final copy") <= 1, report);
        Assert.Single(labels, l => l.Contains("final copy", StringComparison.Ordinal) && !l.StartsWith("data plane", StringComparison.Ordinal));
        Assert.DoesNotContain("QEMU", report, StringComparison.Ordinal);
        Assert.Contains("QEMU", Render.DirtyRateNotMeasured("qemu"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_hypervisors_report_says_how_many_channels_the_migration_ran_on()
    {
        var (_, to, vm) = await fixture.FleetAsync();
        var migration = await fixture.MigrateToEndAsync(vm.VmId, to);

        // The simulated driver's own engine sends one stream, whatever the policy asks.
        Assert.Equal(1, migration.Hypervisor!.MigrationChannels);
        var simulated = Text.Of(Render.MigrationReport(migration), width: 200);
        var multifd = Text.Of(Render.MigrationReport(migration with { Hypervisor = migration.Hypervisor with { Driver = "qemu", MigrationChannels = 4 } }), width: 200);
        var older = Text.Of(Render.MigrationReport(migration with { Hypervisor = migration.Hypervisor with { MigrationChannels = null } }), width: 200);

        Assert.Contains("migration channels", simulated, StringComparison.Ordinal);
        Assert.Contains("4 (multifd)", multifd, StringComparison.Ordinal);
        Assert.DoesNotContain("migration channels", older, StringComparison.Ordinal);
        Assert.Contains("\"migration_channels\": 1", Json.Serialize(migration), StringComparison.Ordinal);
    }

    [Fact]
    public void The_drain_summary_and_note_are_lines_of_their_own_not_wrapped_at_the_tables_width()
    {
        var d = new DrainStatus("h-1", DrainState.Incomplete, new DrainOptions(),
            [new DrainVm("vm-1", DrainVmState.Moved, "mig-1", "h-2"), new DrainVm("vm-2", DrainVmState.Unmovable, Reason: "pass-through")],
            DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, "1 VM(s) could not move; host stays cordoned");

        var text = Text.Of(DrainCommand.Render(d, []), width: 100);

        Assert.Contains(DrainCommand.Summary(d), text, StringComparison.Ordinal);
        Assert.Contains(d.Note!, text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_host_no_live_silo_serves_shows_its_agent_unavailable()
    {
        ImmutableArray<SiloInfo> silos =
        [
            new("silo-a", "127.0.0.1:11111", "Active", ["control", "host"], ["h-1"]),
            new("silo-dead", "127.0.0.1:11112", "Dead", ["host"], ["h-2"]),
            new("silo-ctl", "127.0.0.1:11113", "Active", ["control"], ["*"]),
        ];
        var h1 = Host("h-1");
        var h2 = Host("h-2");

        Assert.Equal("silo-a", HostAgents.SiloOf("h-1", silos));
        Assert.Null(HostAgents.SiloOf("h-2", silos));
        Assert.Equal("silo-any", HostAgents.SiloOf("h-2", [.. silos, new SiloInfo("silo-any", "127.0.0.1:11114", "Active", ["host"], ["*"])]));
        var table = Text.Of(Render.Hosts([h1, h2], silos), width: 220);
        var row = table.Split('\n').Single(l => l.Contains(" h-2 ", StringComparison.Ordinal));
        Assert.Contains("unavailable", row, StringComparison.Ordinal);
        Assert.DoesNotContain("unavailable", table.Split('\n').Single(l => l.Contains(" h-1 ", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    private static Fleet.HostRecord Host(string id) => new(
        new Fleet.HostSpec(id, 16, 65536, "Xeon", ["avx"], 3, "1.0.0", "6.1.0", "7.2.0", ImmutableDictionary<string, string>.Empty),
        Fleet.HostHealth.Ok, Fleet.SchedulingState.Schedulable, ImmutableDictionary<string, Fleet.Placement>.Empty, ImmutableDictionary<string, Fleet.Placement>.Empty,
        DateTimeOffset.UtcNow);
}
