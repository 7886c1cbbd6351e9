using System.Text.Json.Serialization;

namespace OrleansMigrate.Hypervisor.Bench;

/// <summary>One target of the issue, with the figure measured against it. Reported, never asserted.</summary>
/// <param name="Target">What the target says.</param>
/// <param name="Measured">The figure(s) behind the verdict.</param>
/// <param name="Met">True when met; null when the cases it needs were not run.</param>
public sealed record BenchmarkTarget(
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("measured")] string Measured,
    [property: JsonPropertyName("met")] bool? Met);
