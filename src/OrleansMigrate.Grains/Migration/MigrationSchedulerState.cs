using System.Collections.Immutable;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>Persisted state of <see cref="MigrationSchedulerGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.MigrationSchedulerState")]
public sealed class MigrationSchedulerState
{
    /// <summary>Migration id → its admitted (or queued) entry, until it ends.</summary>
    [Id(0)] public ImmutableDictionary<string, ScheduledMigration> Open { get; set; } = ImmutableDictionary<string, ScheduledMigration>.Empty;

    /// <summary>The newest migration ids accepted, newest last: at most a page (<c>HistoryPage</c>) beyond what
    /// <see cref="HistoryPagesWritten"/> full pages in <see cref="IMigrationHistoryPageGrain"/>s hold (rows from before
    /// pages hold up to 2,000 here; they move to pages as new ids arrive).</summary>
    [Id(1)] public ImmutableList<string> History { get; set; } = [];

    /// <summary>Full history pages written so far; page n is stored under key n modulo the pages kept.</summary>
    [Id(2)] public long HistoryPagesWritten { get; set; }
}

/// <summary>Persisted state of <see cref="MigrationHistoryPageGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.MigrationHistoryPageState")]
public sealed class MigrationHistoryPageState
{
    [Id(0)] public long Page { get; set; } = -1;

    [Id(1)] public ImmutableArray<string> Ids { get; set; } = [];
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
    [property: Id(6)] OrleansMigrate.Fleet.Placement? Size = null);
