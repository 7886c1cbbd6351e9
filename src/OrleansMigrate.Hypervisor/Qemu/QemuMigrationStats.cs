using System.Text.Json.Nodes;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>What QEMU's <c>query-migrate</c> says about a migration (source side). Times in ms, sizes in bytes.</summary>
/// <param name="Status">QEMU's migration status (<c>active</c>, <c>pre-switchover</c>, <c>completed</c>…).</param>
/// <param name="TotalTimeMs">From <c>migrate</c> to completion (or so far).</param>
/// <param name="DowntimeMs">Downtime as QEMU measured it (vCPUs stopped until the source finished sending), once completed.</param>
/// <param name="ExpectedDowntimeMs">QEMU's estimate of the downtime if it switched over now (while active).</param>
/// <param name="SetupTimeMs">Setup phase.</param>
/// <param name="TransferredBytes">RAM bytes transferred.</param>
/// <param name="RemainingBytes">RAM bytes still dirty.</param>
/// <param name="TotalBytes">Guest RAM.</param>
/// <param name="DirtyPagesRate">Pages dirtied per second, as QEMU measured it over the last sync.</param>
/// <param name="PageSize">Bytes per page in QEMU's counters.</param>
/// <param name="Mbps">Throughput in megabits per second.</param>
/// <param name="DirtySyncCount">Dirty-bitmap syncs: one per pass over memory.</param>
/// <param name="NormalPages">Pages sent in full.</param>
/// <param name="DuplicatePages">Pages sent as a fill byte (zero pages).</param>
/// <param name="CpuThrottlePercent">Auto-converge's vCPU throttle, when active.</param>
public sealed record QemuMigrationStats(
    string Status,
    double? TotalTimeMs,
    double? DowntimeMs,
    double? ExpectedDowntimeMs,
    double? SetupTimeMs,
    long TransferredBytes,
    long RemainingBytes,
    long TotalBytes,
    double DirtyPagesRate,
    long PageSize,
    double Mbps,
    long DirtySyncCount,
    long NormalPages,
    long DuplicatePages,
    int CpuThrottlePercent)
{
    /// <summary>Dirty rate in bytes per second.</summary>
    public double DirtyRateBytesPerSecond => DirtyPagesRate * PageSize;

    /// <summary>Throughput in bytes per second.</summary>
    public double BandwidthBytesPerSecond => Mbps * 1_000_000 / 8;

    /// <summary>Parses the <c>return</c> of <c>query-migrate</c>.</summary>
    public static QemuMigrationStats Parse(JsonNode? reply)
    {
        var ram = reply?["ram"];
        return new QemuMigrationStats(
            reply?["status"]?.GetValue<string>() ?? "none",
            Number(reply?["total-time"]),
            Number(reply?["downtime"]),
            Number(reply?["expected-downtime"]),
            Number(reply?["setup-time"]),
            (long)(Number(ram?["transferred"]) ?? 0),
            (long)(Number(ram?["remaining"]) ?? 0),
            (long)(Number(ram?["total"]) ?? 0),
            Number(ram?["dirty-pages-rate"]) ?? 0,
            (long)(Number(ram?["page-size"]) ?? 4096),
            Number(ram?["mbps"]) ?? 0,
            (long)(Number(ram?["dirty-sync-count"]) ?? 0),
            (long)(Number(ram?["normal"]) ?? 0),
            (long)(Number(ram?["duplicate"]) ?? 0),
            (int)(Number(reply?["cpu-throttle-percentage"]) ?? 0));
    }

    private static double? Number(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<double>(out var d) ? d
        : node is JsonValue v2 && v2.TryGetValue<long>(out var l) ? l
        : null;
}
