using System.Text.Json.Serialization;
using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Bench;

/// <summary>The preflight benchmark's JSON: <c>{"preflight": {"runs", "downtime_error_p50", "total_time_error_p50", ...}}</c>.</summary>
public sealed record PreflightBenchmarkResult
{
    [JsonPropertyName("preflight")]
    public required PreflightSummary Preflight { get; init; }

    [JsonPropertyName("calibration")]
    public required PredictorCalibration Calibration { get; init; }

    [JsonPropertyName("calibration_source")]
    public required string CalibrationSource { get; init; }

    [JsonPropertyName("runs")]
    public required IReadOnlyList<PreflightRun> Runs { get; init; }

    [JsonPropertyName("duration_s")]
    public required double DurationSeconds { get; init; }

    [JsonPropertyName("processor_count")]
    public required int ProcessorCount { get; init; }

    /// <summary>The host's load average (1, 5, 15 min) when the run started, where the OS reports it: the benchmark host is shared.</summary>
    [JsonPropertyName("load_average")]
    public string? LoadAverage { get; init; }

    [JsonPropertyName("notes")]
    public required IReadOnlyList<string> Notes { get; init; }
}

/// <summary>Median relative errors |predicted − measured| / measured over the successful runs.</summary>
public sealed record PreflightSummary
{
    [JsonPropertyName("runs")]
    public required int Runs { get; init; }

    [JsonPropertyName("downtime_error_p50")]
    public required double DowntimeErrorP50 { get; init; }

    [JsonPropertyName("total_time_error_p50")]
    public required double TotalTimeErrorP50 { get; init; }

    [JsonPropertyName("downtime_error_p90")]
    public required double DowntimeErrorP90 { get; init; }

    [JsonPropertyName("total_time_error_p90")]
    public required double TotalTimeErrorP90 { get; init; }

    /// <summary>Downtime error median of the runs with the pre-last-copy stage on (final copy of a few pages: fixed cost dominates).</summary>
    [JsonPropertyName("downtime_error_p50_plc_on")]
    public required double DowntimeErrorP50PlcOn { get; init; }

    /// <summary>Downtime error median of the runs with the stage off (final copy is what pre-copy left: link time dominates).</summary>
    [JsonPropertyName("downtime_error_p50_plc_off")]
    public required double DowntimeErrorP50PlcOff { get; init; }

    [JsonPropertyName("total_time_error_p50_plc_on")]
    public required double TotalTimeErrorP50PlcOn { get; init; }

    [JsonPropertyName("total_time_error_p50_plc_off")]
    public required double TotalTimeErrorP50PlcOff { get; init; }

    /// <summary>Runs whose predicted outcome (converges or not) matched the measured switchover reason.</summary>
    [JsonPropertyName("convergence_agreement")]
    public required int ConvergenceAgreement { get; init; }

    [JsonPropertyName("failed_runs")]
    public required int FailedRuns { get; init; }

    [JsonPropertyName("target_error")]
    public double TargetError { get; init; } = 0.25;

    [JsonPropertyName("target_met")]
    public required bool TargetMet { get; init; }
}

/// <summary>One preflight run: the sample, the prediction and the measured migration.</summary>
public sealed record PreflightRun
{
    [JsonPropertyName("case")]
    public required string Case { get; init; }

    [JsonPropertyName("guest_mib")]
    public required int GuestMiB { get; init; }

    [JsonPropertyName("dirty_mb_s")]
    public required double DirtyMegabytesPerSecond { get; init; }

    [JsonPropertyName("link_mb_s")]
    public required double LinkMegabytesPerSecond { get; init; }

    [JsonPropertyName("pre_last_copy")]
    public required bool PreLastCopy { get; init; }

    [JsonPropertyName("sampled_dirty_mb_s")]
    public required double SampledDirtyMegabytesPerSecond { get; init; }

    [JsonPropertyName("sampled_working_set_mib")]
    public double? SampledWorkingSetMiB { get; init; }

    [JsonPropertyName("sampled_compression_ratio")]
    public double? SampledCompressionRatio { get; init; }

    [JsonPropertyName("predicted_outcome")]
    public required string PredictedOutcome { get; init; }

    [JsonPropertyName("measured_switchover")]
    public string? MeasuredSwitchover { get; init; }

    [JsonPropertyName("predicted_rounds")]
    public required int PredictedRounds { get; init; }

    [JsonPropertyName("measured_rounds")]
    public int MeasuredRounds { get; init; }

    [JsonPropertyName("predicted_final_pages")]
    public required long PredictedFinalPages { get; init; }

    [JsonPropertyName("measured_final_pages")]
    public long MeasuredFinalPages { get; init; }

    [JsonPropertyName("predicted_final_wire_bytes")]
    public required long PredictedFinalWireBytes { get; init; }

    [JsonPropertyName("measured_final_wire_bytes")]
    public long MeasuredFinalWireBytes { get; init; }

    [JsonPropertyName("measured_final_copy_cpu_ms")]
    public double MeasuredFinalCopyCpuMs { get; init; }

    [JsonPropertyName("predicted_downtime_ms")]
    public required double PredictedDowntimeMs { get; init; }

    [JsonPropertyName("measured_downtime_ms")]
    public double MeasuredDowntimeMs { get; init; }

    [JsonPropertyName("predicted_total_ms")]
    public required double PredictedTotalMs { get; init; }

    [JsonPropertyName("measured_total_ms")]
    public double MeasuredTotalMs { get; init; }

    [JsonPropertyName("downtime_error")]
    public double DowntimeError { get; init; }

    [JsonPropertyName("total_time_error")]
    public double TotalTimeError { get; init; }

    [JsonPropertyName("consistent")]
    public bool Consistent { get; init; }

    [JsonPropertyName("error")]
    public string? Error { get; init; }
}

/// <summary>One case of <see cref="PreflightBenchmark"/>: a uniformly dirtying guest, a link cap and the pre-last-copy setting.</summary>
/// <param name="Name">Case name in the JSON.</param>
/// <param name="GuestMiB">Guest size.</param>
/// <param name="DirtyMegabytesPerSecond">The guest's page writes × 4096 per second, in MB/s.</param>
/// <param name="LinkMegabytesPerSecond">Link cap, in MB/s.</param>
/// <param name="PreLastCopy">Whether the pre-last-copy stage runs.</param>
public sealed record PreflightCase(string Name, int GuestMiB, double DirtyMegabytesPerSecond, double LinkMegabytesPerSecond, bool PreLastCopy);
