using System.Collections.Immutable;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>What an entry-standard item asks, of which component; <c>MigrationGrain.CheckEntryAsync</c> has one check per value.</summary>
public enum EntryCheck
{
    VmRunsOnSource,
    NoOtherMigrationOfVm,
    CapacityReserved,
    DestinationPrepared,
    DisksOpenReadOnly,
    RelaysStaged,
    SourceStreaming,
    SourcePaused,
    DestinationResumed,
}

/// <summary>One item of a phase's entry standard: what must hold, the component asked, whether serial mode waives it
/// (<paramref name="ParallelOnly"/>), and whether a mode without the relay waives it too (<paramref name="RelayOnly"/>).</summary>
public sealed record EntryCondition(EntryCheck Check, string Text, string AskedOf, bool ParallelOnly = false, bool RelayOnly = false)
{
    /// <summary>Whether a migration in <paramref name="mode"/> must meet this item.</summary>
    public bool AppliesTo(OrchestrationMode mode) => (!ParallelOnly || mode.IsParallel()) && (!RelayOnly || mode.UsesRelay());

    /// <summary>As the README's phase table writes it.</summary>
    public override string ToString() => $"{Text} ({AskedOf}){(RelayOnly ? ", parallel mode with a relay" : ParallelOnly ? ", parallel mode" : "")}";
}

/// <summary>
/// The phase table, in one place: the entry standard of each phase (the component states required before it may
/// start) and the allowed transitions. The migration grain checks exactly these items, each by asking its component
/// (<c>CheckEntryAsync</c>), and a test holds the README's table to this one.
/// </summary>
public static class MigrationPhases
{
    /// <summary>Phase → what must hold to enter it.</summary>
    public static readonly ImmutableArray<(MigrationPhase Phase, ImmutableArray<EntryCondition> EntryStandard)> Table =
    [
        (MigrationPhase.Prepare,
        [
            new(EntryCheck.VmRunsOnSource, "VM runs on the source", "source agent"),
            new(EntryCheck.NoOtherMigrationOfVm, "no other migration of the VM", "scheduler shard"),
        ]),
        (MigrationPhase.PreCopy,
        [
            new(EntryCheck.CapacityReserved, "capacity reserved on the destination", "destination host ledger"),
            new(EntryCheck.DestinationPrepared, "destination VM prepared for incoming, stream endpoint listening", "destination agent"),
            new(EntryCheck.DisksOpenReadOnly, "each cloud disk open read-only on the destination", "disk grain", ParallelOnly: true),
            new(EntryCheck.RelaysStaged, "relay route staged and disabled for each NIC", "VPC flow table", ParallelOnly: true, RelayOnly: true),
        ]),
        (MigrationPhase.PreLastCopy, [new(EntryCheck.SourceStreaming, "memory and session-table rounds running, stream connected", "source agent")]),
        (MigrationPhase.Switchover, [new(EntryCheck.SourcePaused, "VM paused by the data plane after pre-last-copy", "source agent")]),
        (MigrationPhase.PostMigration, [new(EntryCheck.DestinationResumed, "VM resumed on the destination: the commit point", "destination agent")]),
    ];

    /// <summary>The entry standard of <paramref name="phase"/> (empty for a phase without one), in <paramref name="mode"/>.</summary>
    public static IEnumerable<EntryCondition> EntryStandard(MigrationPhase phase, OrchestrationMode mode) =>
        Table.Where(r => r.Phase == phase).SelectMany(r => r.EntryStandard).Where(c => c.AppliesTo(mode));

    private static readonly ImmutableDictionary<MigrationPhase, ImmutableArray<MigrationPhase>> Next = new Dictionary<MigrationPhase, ImmutableArray<MigrationPhase>>
    {
        [MigrationPhase.Queued] = [MigrationPhase.Prepare, MigrationPhase.RolledBack],
        // A cold move has no pre-copy: from prepare it goes straight to its switchover (shutdown, hand-over, start).
        [MigrationPhase.Prepare] = [MigrationPhase.PreCopy, MigrationPhase.RollingBack, MigrationPhase.Switchover],
        [MigrationPhase.PreCopy] = [MigrationPhase.PreLastCopy, MigrationPhase.Switchover, MigrationPhase.RollingBack],
        [MigrationPhase.PreLastCopy] = [MigrationPhase.Switchover, MigrationPhase.RollingBack],
        [MigrationPhase.Switchover] = [MigrationPhase.PostMigration, MigrationPhase.RollingBack],
        // Failed after the commit point only when post-copy lost the VM: nothing to roll back, nothing to complete.
        [MigrationPhase.PostMigration] = [MigrationPhase.Completed, MigrationPhase.Failed],
        [MigrationPhase.RollingBack] = [MigrationPhase.RolledBack, MigrationPhase.PostMigration, MigrationPhase.Failed],
        [MigrationPhase.Completed] = [],
        [MigrationPhase.RolledBack] = [],
        [MigrationPhase.Failed] = [],
    }.ToImmutableDictionary();

    public static bool CanMove(MigrationPhase from, MigrationPhase to) => Next.TryGetValue(from, out var next) && next.Contains(to);

    /// <summary>Before the commit point a failure rolls back; from <see cref="MigrationPhase.PostMigration"/> on it only rolls forward.</summary>
    public static bool IsBeforeCommit(MigrationPhase phase) => phase <= MigrationPhase.Switchover;

    public static bool IsEnded(MigrationPhase phase) => phase is MigrationPhase.Completed or MigrationPhase.RolledBack or MigrationPhase.Failed;
}
