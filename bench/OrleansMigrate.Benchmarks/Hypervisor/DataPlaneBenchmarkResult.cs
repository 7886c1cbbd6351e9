using System.Text.Json.Serialization;

namespace OrleansMigrate.Hypervisor.Bench;

/// <summary>The benchmark's JSON document: <c>{"cases":[...], "targets":[...], ...}</c>.</summary>
public sealed record DataPlaneBenchmarkResult
{
    [JsonPropertyName("cases")]
    public required IReadOnlyList<BenchmarkCaseResult> Cases { get; init; }

    [JsonPropertyName("targets")]
    public required IReadOnlyList<BenchmarkTarget> Targets { get; init; }

    [JsonPropertyName("downtime_target_ms")]
    public required double DowntimeTargetMs { get; init; }

    [JsonPropertyName("warmup_migrations")]
    public required int WarmupMigrations { get; init; }

    [JsonPropertyName("duration_s")]
    public required double DurationSeconds { get; init; }

    [JsonPropertyName("processor_count")]
    public required int ProcessorCount { get; init; }

    [JsonPropertyName("runtime")]
    public required string Runtime { get; init; }

    [JsonPropertyName("notes")]
    public required IReadOnlyList<string> Notes { get; init; }
}
