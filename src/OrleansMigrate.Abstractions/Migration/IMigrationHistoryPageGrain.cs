using System.Collections.Immutable;

namespace OrleansMigrate.Migration;

/// <summary>
/// A full page of the scheduler's history of accepted migration ids (key: "scheduler-history/{slot}", a ring of
/// slots): written once when the page fills, so the scheduler's own row, written on every submit, admission and end,
/// holds only the newest page instead of the last 2,000 ids. Only the scheduler reads and writes it.
/// </summary>
[Alias("omig.IMigrationHistoryPageGrain")]
public interface IMigrationHistoryPageGrain : IGrainWithStringKey
{
    /// <summary>The ids of page <paramref name="page"/>, or empty when the slot holds another page (overwritten).</summary>
    [Alias("Get")]
    Task<ImmutableArray<string>> GetAsync(long page);

    [Alias("Set")]
    Task SetAsync(long page, ImmutableArray<string> ids);
}
