namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Everything measured about one completed migration (see <see cref="LiveMigration.RunAsync"/>).</summary>
/// <param name="VmId">The migrated VM.</param>
/// <param name="SwitchoverReason">Why pre-copy stopped.</param>
/// <param name="Rounds">Iterative rounds, in order.</param>
/// <param name="PreLastCopyDecisions">The pre-last-copy stage's decisions.</param>
/// <param name="Downtime">Downtime and its breakdown.</param>
/// <param name="TotalMs">Migration start (connect) → destination resumed, in ms.</param>
/// <param name="PreCopyMs">Pre-copy duration, in ms.</param>
/// <param name="PreLastCopyMs">Pre-last-copy stage duration, in ms.</param>
/// <param name="Source">Source totals.</param>
/// <param name="Destination">Destination totals.</param>
/// <param name="CompressionCpuSeconds">LZ4 encode (source) plus decode (destination) CPU seconds.</param>
/// <param name="Consistency">The destination's consistency check, when the driver can make one.</param>
public sealed record MigrationReport(
    string VmId,
    SwitchoverReason SwitchoverReason,
    IReadOnlyList<RoundRecord> Rounds,
    IReadOnlyList<PreLastCopyDecision> PreLastCopyDecisions,
    DowntimeBreakdown Downtime,
    double TotalMs,
    double PreCopyMs,
    double PreLastCopyMs,
    OutgoingStatistics Source,
    IncomingStatistics Destination,
    double CompressionCpuSeconds,
    ConsistencyReport? Consistency);
