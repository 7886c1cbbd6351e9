using System.Collections.Immutable;
using OrleansMigrate.Client;

namespace OrleansMigrate.Audit;

/// <summary>What the continuous auditor knows: its last completed pass and its counters.</summary>
/// <param name="Silo">The silo the auditor activation runs on (its address), where its metrics are reported.</param>
/// <param name="IntervalSeconds">Seconds between passes; 0 when no audit driver has started the timer of this activation.</param>
/// <param name="Passes">Passes run since the auditor's state was created, completed or failed.</param>
/// <param name="FailedPasses">Passes that failed or timed out (the last report stays the previous completed one).</param>
/// <param name="LastPassAt">When the last completed pass started; null before the first.</param>
/// <param name="LastPassDurationMs">How long the last completed pass took.</param>
/// <param name="LastReport">The last completed pass's report; null before the first.</param>
/// <param name="Counts">Findings of <see cref="LastReport"/> per invariant, 0 for each one that holds.</param>
/// <param name="LastError">Why the last pass failed, when it did; null when it completed.</param>
/// <param name="Now">The auditor's clock when it answered, to compute the report's age.</param>
/// <param name="SiloName">The name of the silo in <paramref name="Silo"/> (the <c>service.instance.id</c> its metrics carry).</param>
[GenerateSerializer, Immutable]
[Alias("omig.AuditorStatus")]
public sealed record AuditorStatus(
    [property: Id(0)] string Silo,
    [property: Id(1)] double IntervalSeconds,
    [property: Id(2)] long Passes,
    [property: Id(3)] long FailedPasses,
    [property: Id(4)] DateTimeOffset? LastPassAt,
    [property: Id(5)] double LastPassDurationMs,
    [property: Id(6)] AuditReport? LastReport,
    [property: Id(7)] ImmutableSortedDictionary<string, int> Counts,
    [property: Id(8)] string? LastError,
    [property: Id(9)] DateTimeOffset Now,
    [property: Id(10)] string SiloName)
{
    /// <summary>Seconds since the last completed pass started, or null before the first.</summary>
    public double? AgeSeconds => LastPassAt is { } at ? Math.Max(0, (Now - at).TotalSeconds) : null;
}
