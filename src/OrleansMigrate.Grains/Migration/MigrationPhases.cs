using System.Collections.Immutable;

namespace OrleansMigrate.Migration;

/// <summary>
/// The phase table, in one place: the entry standard of each phase (the component states required
/// before it may start, each checked by asking the component) and the allowed transitions. The README
/// reproduces this table.
/// </summary>
public static class MigrationPhases
{
    /// <summary>Phase → what must hold to enter it (serial mode waives the parallel-only items).</summary>
    public static readonly ImmutableArray<(MigrationPhase Phase, ImmutableArray<string> EntryStandard)> Table =
    [
        (MigrationPhase.Prepare, ["VM runs on the source (source agent)", "no other migration of the VM (scheduler)"]),
        (MigrationPhase.PreCopy,
        [
            "capacity reserved on the destination (destination host ledger)",
            "destination VM prepared for incoming, stream endpoint listening (destination agent)",
            "each cloud disk open read-only on the destination (disk grain) — parallel mode",
            "relay route staged and disabled for each NIC (VPC flow table) — parallel mode",
        ]),
        (MigrationPhase.PreLastCopy, ["memory and session-table rounds running, stream connected (source agent)"]),
        (MigrationPhase.Switchover, ["VM paused by the data plane after pre-last-copy (source agent)"]),
        (MigrationPhase.PostMigration, ["VM resumed on the destination: the commit point (destination agent)"]),
    ];

    private static readonly ImmutableDictionary<MigrationPhase, ImmutableArray<MigrationPhase>> Next = new Dictionary<MigrationPhase, ImmutableArray<MigrationPhase>>
    {
        [MigrationPhase.Queued] = [MigrationPhase.Prepare, MigrationPhase.RolledBack],
        [MigrationPhase.Prepare] = [MigrationPhase.PreCopy, MigrationPhase.RollingBack],
        [MigrationPhase.PreCopy] = [MigrationPhase.PreLastCopy, MigrationPhase.Switchover, MigrationPhase.RollingBack],
        [MigrationPhase.PreLastCopy] = [MigrationPhase.Switchover, MigrationPhase.RollingBack],
        [MigrationPhase.Switchover] = [MigrationPhase.PostMigration, MigrationPhase.RollingBack],
        [MigrationPhase.PostMigration] = [MigrationPhase.Completed],
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
