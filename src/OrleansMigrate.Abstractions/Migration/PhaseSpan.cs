namespace OrleansMigrate.Migration;

/// <summary>One phase in a migration's timeline.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.PhaseSpan")]
public sealed record PhaseSpan(
    [property: Id(0)] MigrationPhase Phase,
    [property: Id(1)] DateTimeOffset StartedAt,
    [property: Id(2)] DateTimeOffset? EndedAt);
