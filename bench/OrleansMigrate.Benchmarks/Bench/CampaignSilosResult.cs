using System.Collections.Immutable;

namespace OrleansMigrate.Cli.Bench;

/// <summary>The JSON of <c>omig bench campaign --silos N</c>. <c>placement</c>: per silo process, the most activations of
/// each grain kind seen there in one sample of Orleans' management grain (every ~2 s during the campaign).
/// <c>control_silos_with_work</c>: control silos that held drain or migration grains at some sample.
/// <c>recovery_s</c>: from the kill to the first migration completed after it. <c>migration_wall_ms_p50</c>: the last
/// completed migrations the scheduler remembers. <c>targets_met</c>: completed, every host upgraded, 0 lost,
/// 0 violations, a control silo killed, and at least two control silos did drains or migrations. <c>vms_lost</c> and
/// <c>invariant_violations</c> are read once the fleet has settled (clean, or 60 s after the campaign ended);
/// <c>vms_not_running_at_end</c> and <c>audit_findings_at_end</c> are the first reading, as the campaign ended, and
/// <c>settled_after_s</c> how long after it both were clean (null: never within the 60 s).</summary>
public sealed record CampaignSilosResult(
    int Silos,
    int Hosts,
    int Vms,
    double MigrationsPerS,
    double MigrationWallMsP50,
    KilledSilo? Killed,
    string CampaignState,
    int VmsLost,
    int InvariantViolations,
    int VmsNotRunningAtEnd,
    int AuditFindingsAtEnd,
    double? SettledAfterS,
    ImmutableArray<SiloPlacement> Placement,
    bool TargetsMet,
    int HostsUpgraded,
    int MigrationsCompleted,
    int MigrationsRolledBack,
    int MigrationsFailed,
    int HostsFailed,
    double WallS,
    double SetupS,
    double? RecoveryS,
    int ControlSilosWithWork,
    int PlacementSamples,
    int PlacementSampleFailures,
    int ProgressReadFailures,
    double TimeAcceleration,
    int Batch,
    int MaxParallelMigrations,
    string ClusterId,
    string Date,
    int Processors);

/// <summary>The control silo the bench killed (SIGKILL, not restarted): when (seconds into the campaign) and how far the
/// campaign was.</summary>
public sealed record KilledSilo(string Silo, int Pid, double AtS, int HostsDoneAtKill, int MigrationsAtKill, string Reason, string AtUtc);

/// <summary>One silo process and the most activations of each grain kind seen on it in one sample: over the whole run
/// (<c>grains</c>) and over the samples before the kill (<c>grains_before_kill</c>; the sample taken just before it included).</summary>
public sealed record SiloPlacement(string Silo, string Role, int Pid, bool Killed, ImmutableSortedDictionary<string, int> Grains,
    ImmutableSortedDictionary<string, int> GrainsBeforeKill);
