using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Migration;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Migration;

/// <summary>The phase table is the thing that is checked: every item has a check, serial mode waives exactly the
/// parallel-only ones, and the README shows the same table.</summary>
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
    public void Serial_mode_waives_exactly_the_parallel_only_items(MigrationPhase phase, OrchestrationMode mode, EntryCheck[] expected) =>
        Assert.Equal(expected, MigrationPhases.EntryStandard(phase, mode).Select(c => c.Check));

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
