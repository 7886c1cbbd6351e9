using OrleansMigrate.Migration;

namespace OrleansMigrate.Agents;

/// <summary>The source side of a migration as its agent sees it.</summary>
/// <param name="State">Data-plane state name (<c>precopy</c>, <c>prelastcopy</c>, <c>paused</c>, <c>failed</c>…).</param>
/// <param name="Paused">True once the VM is paused for switchover (the pre-switchover point).</param>
/// <param name="PausedAtUtc">Start of the downtime, when <paramref name="Paused"/>.</param>
/// <param name="Failure">Why the source side failed (the VM then runs on the source), or null.</param>
[GenerateSerializer, Immutable]
[Alias("omig.OutgoingSnapshot")]
public sealed record OutgoingSnapshot(
    [property: Id(0)] string State,
    [property: Id(1)] MigrationProgressInfo Progress,
    [property: Id(2)] bool Paused,
    [property: Id(3)] DateTimeOffset? PausedAtUtc,
    [property: Id(4)] string? Failure,
    [property: Id(5)] bool InPreLastCopy)
{
    /// <summary>Once <see cref="Paused"/>: why the data plane stopped iterating (<c>converged</c>, <c>round-limit</c>,
    /// <c>time-limit</c>, <c>requested</c>); null before, or from an agent that does not say.</summary>
    [Id(6)] public string? SwitchoverReason { get; init; }
}
