using System.Text.Json.Serialization;

namespace OrleansMigrate.Hypervisor.Bench;

/// <summary>Measured figures of one case, as written to the JSON (snake_case).</summary>
public sealed record BenchmarkCaseResult
{
    [JsonPropertyName("case")]
    public required string Case { get; init; }

    [JsonPropertyName("guest_mib")]
    public required int GuestMiB { get; init; }

    /// <summary>Configured page-write rate in MB/s (0 idle); during a surge it is multiplied.</summary>
    [JsonPropertyName("dirty_mb_s")]
    public required double DirtyMBps { get; init; }

    [JsonPropertyName("dirty_pattern")]
    public required string DirtyPattern { get; init; }

    /// <summary>Emulated link cap in MB/s.</summary>
    [JsonPropertyName("link_mb_s")]
    public required double LinkMBps { get; init; }

    [JsonPropertyName("compression")]
    public required string Compression { get; init; }

    [JsonPropertyName("pre_last_copy")]
    public required bool PreLastCopy { get; init; }

    [JsonPropertyName("runs")]
    public required int Runs { get; init; }

    [JsonPropertyName("downtime_ms_p50")]
    public required double DowntimeMsP50 { get; init; }

    [JsonPropertyName("downtime_ms_p99")]
    public required double DowntimeMsP99 { get; init; }

    [JsonPropertyName("total_ms_p50")]
    public required double TotalMsP50 { get; init; }

    /// <summary>Median wire bytes of a run (headers, pages, session deltas, device state).</summary>
    [JsonPropertyName("bytes_sent")]
    public required long BytesSent { get; init; }

    /// <summary>Median CPU seconds of a run spent in LZ4 encode (source) plus decode (destination), thread CPU time.</summary>
    [JsonPropertyName("cpu_s")]
    public required double CpuSeconds { get; init; }

    /// <summary>Every run passed the destination's consistency check.</summary>
    [JsonPropertyName("consistent")]
    public required bool Consistent { get; init; }

    [JsonPropertyName("downtime_ms")]
    public required IReadOnlyList<double> DowntimeMs { get; init; }

    [JsonPropertyName("downtime_ms_max")]
    public required double DowntimeMsMax { get; init; }

    /// <summary>Median wire throughput of round 1 (the bulk copy), MB/s.</summary>
    [JsonPropertyName("bulk_copy_mb_s")]
    public required double BulkCopyMBps { get; init; }

    /// <summary><see cref="BulkCopyMBps"/> over <see cref="LinkMBps"/>.</summary>
    [JsonPropertyName("bulk_copy_link_fraction")]
    public required double BulkCopyLinkFraction { get; init; }

    /// <summary>Median wire bytes of frames that went LZ4-compressed in a run.</summary>
    [JsonPropertyName("compressed_bytes")]
    public required long CompressedBytes { get; init; }

    /// <summary>Median raw bytes those frames carried.</summary>
    [JsonPropertyName("compressed_raw_bytes")]
    public required long CompressedRawBytes { get; init; }

    [JsonPropertyName("final_pages_p50")]
    public required double FinalPagesP50 { get; init; }

    [JsonPropertyName("final_wire_bytes_p50")]
    public required double FinalWireBytesP50 { get; init; }

    [JsonPropertyName("rounds_p50")]
    public required double RoundsP50 { get; init; }

    [JsonPropertyName("pre_last_copy_ms_p50")]
    public required double PreLastCopyMsP50 { get; init; }

    /// <summary>How pre-copy stopped, counted over the runs (converged, time limit, ...).</summary>
    [JsonPropertyName("switchover_reasons")]
    public required IReadOnlyDictionary<string, int> SwitchoverReasons { get; init; }

    /// <summary>Final pre-last-copy verdicts over the runs (proceed, give up, skipped).</summary>
    [JsonPropertyName("pre_last_copy_verdicts")]
    public required IReadOnlyDictionary<string, int> PreLastCopyVerdicts { get; init; }

    /// <summary>Median of each downtime step over the runs, in ms (see <see cref="Drivers.DowntimeBreakdown"/>).</summary>
    [JsonPropertyName("downtime_breakdown_ms_p50")]
    public required IReadOnlyDictionary<string, double> DowntimeBreakdownMsP50 { get; init; }

    /// <summary>The downtime steps of the slowest run, in ms: where an outlier's time went.</summary>
    [JsonPropertyName("slowest_run_breakdown_ms")]
    public required IReadOnlyDictionary<string, double> SlowestRunBreakdownMs { get; init; }

    [JsonPropertyName("note")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Note { get; init; }
}
