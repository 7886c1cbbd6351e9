using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Migration;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Migration;

/// <summary>The phase table is the thing that is checked: every item has a check, serial mode waives exactly the
/// parallel-only ones (no-relay mode only the relay's), and the README shows the same table.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class MigrationPhasesTests
{
    [Fact]
    public void Every_check_appears_in_the_table_once_and_every_phase_before_the_commit_has_an_entry_standard()
    {
        var checks = MigrationPhases.Table.SelectMany(r => r.EntryStandard).Select(c => c.Check).ToList();

        Assert.Equal(Enum.GetValues<EntryCheck>().Order(), checks.Order());
        Assert.Equal(
            [MigrationPhase.Prepare, MigrationPhase.PreCopy, MigrationPhase.PreLastCopy, MigrationPhase.Switchover, MigrationPhase.PostMigration],
            MigrationPhases.Table.Select(r => r.Phase));
    }

    [Theory]
    [InlineData(MigrationPhase.Prepare, OrchestrationMode.Serial, new[] { EntryCheck.VmRunsOnSource, EntryCheck.NoOtherMigrationOfVm })]
    [InlineData(MigrationPhase.PreCopy, OrchestrationMode.Parallel,
        new[] { EntryCheck.CapacityReserved, EntryCheck.DestinationPrepared, EntryCheck.DisksOpenReadOnly, EntryCheck.RelaysStaged })]
    [InlineData(MigrationPhase.PreCopy, OrchestrationMode.Serial, new[] { EntryCheck.CapacityReserved, EntryCheck.DestinationPrepared })]
    [InlineData(MigrationPhase.PostMigration, OrchestrationMode.Serial, new[] { EntryCheck.DestinationResumed })]
    [InlineData(MigrationPhase.RollingBack, OrchestrationMode.Parallel, new EntryCheck[0])]
    [InlineData(MigrationPhase.PreCopy, OrchestrationMode.NoRelay, new[] { EntryCheck.CapacityReserved, EntryCheck.DestinationPrepared, EntryCheck.DisksOpenReadOnly })]
    [InlineData(MigrationPhase.PreCopy, OrchestrationMode.NoSessionCopy,
        new[] { EntryCheck.CapacityReserved, EntryCheck.DestinationPrepared, EntryCheck.DisksOpenReadOnly, EntryCheck.RelaysStaged })]
    public void Serial_mode_waives_exactly_the_parallel_only_items_and_no_relay_mode_the_relay(MigrationPhase phase, OrchestrationMode mode, EntryCheck[] expected) =>
        Assert.Equal(expected, MigrationPhases.EntryStandard(phase, mode).Select(c => c.Check));

    [Theory]
    [InlineData(OrchestrationMode.Parallel, true, true, true)]
    [InlineData(OrchestrationMode.Serial, false, false, true)]
    [InlineData(OrchestrationMode.NoRelay, true, false, true)]
    [InlineData(OrchestrationMode.NoSessionCopy, true, true, false)]
    public void Each_comparison_mode_is_parallel_with_one_technique_left_out(OrchestrationMode mode, bool parallel, bool relay, bool sessions)
    {
        Assert.Equal(parallel, mode.IsParallel());
        Assert.Equal(relay, mode.UsesRelay());
        Assert.Equal(sessions, mode.CopiesSessions());
    }

    [Theory]
    [InlineData(OrchestrationMode.Parallel, true, false)]
    [InlineData(OrchestrationMode.Serial, false, false)]
    [InlineData(OrchestrationMode.NoRelay, true, false)]
    [InlineData(OrchestrationMode.NoSessionCopy, true, true)]
    public void The_tuning_sent_to_the_hosts_starts_the_final_copy_at_the_pause_in_parallel_modes_and_skips_sessions_only_in_no_session_copy(
        OrchestrationMode mode, bool continueAtPause, bool skipSessions)
    {
        var policy = new OrleansMigrate.Agents.MigrationTuning(MigrationChannels: 4);

        var tuning = MigrationGrain.TuningFor(policy, mode);

        Assert.Equal(policy with { ContinueAtPause = continueAtPause, SkipSessionCopy = skipSessions }, tuning);
    }

    [Fact]
    public void The_readme_shows_the_table_the_grain_checks()
    {
        var readme = File.ReadAllText(System.IO.Path.Combine(RepoRoot.Path, "README.md"));

        foreach (var (phase, standard) in MigrationPhases.Table)
        {
            var row = $"| {phase} | {string.Join("; ", standard)} |";
            Assert.True(readme.Contains(row, StringComparison.Ordinal), $"README.md lacks the row: {row}");
        }
    }
}
