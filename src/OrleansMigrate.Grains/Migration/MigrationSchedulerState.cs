using System.Collections.Immutable;

namespace OrleansMigrate.Migration;

/// <summary>Persisted state of <see cref="MigrationSchedulerGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.MigrationSchedulerState")]
public sealed class MigrationSchedulerState
{
    /// <summary>Migration id → its admitted (or queued) entry, until it ends.</summary>
    [Id(0)] public ImmutableDictionary<string, ScheduledMigration> Open { get; set; } = ImmutableDictionary<string, ScheduledMigration>.Empty;

    /// <summary>Every migration id ever accepted, newest last (bounded to the last 2,000).</summary>
    [Id(1)] public ImmutableList<string> History { get; set; } = [];
}

[GenerateSerializer, Immutable]
[Alias("omig.ScheduledMigration")]
public sealed record ScheduledMigration(
    [property: Id(0)] string MigrationId,
    [property: Id(1)] MigrationRequest Request,
    [property: Id(2)] string SourceHost,
    [property: Id(3)] string DestinationHost,
    [property: Id(4)] bool Admitted,
    [property: Id(5)] DateTimeOffset SubmittedAt,
    [property: Id(6)] Fleet.Placement? Size = null);
