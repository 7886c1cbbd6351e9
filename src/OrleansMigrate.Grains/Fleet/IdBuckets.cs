using System.Collections.Immutable;
using Orleans.Storage;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// A set of ids a grain keeps, stored as <see cref="Count"/> rows of its grain storage instead of one: state names
/// <c>{prefix}-b00</c> … (see <see cref="StateName"/>), each holding the ids that hash to it (<see cref="BucketOf"/>).
/// Adding or removing one id rewrites one row of about 1/<see cref="Count"/> of the set, so building a set of n ids
/// writes O(n²/Count) bytes instead of O(n²). The union is kept in memory, in ordinal order.
/// <para>
/// A change is written before it shows in <see cref="Ids"/>; a failed write leaves memory as it was, and a version
/// conflict (the row moved on without this activation) reads that row back, as <c>StateWrites</c> does for a whole
/// state. Writes to one row are serialized here, so a reentrant owner may change the set from interleaved requests.
/// </para>
/// </summary>
public sealed class IdBuckets
{
    private readonly IGrainStorage _storage;
    private readonly GrainId _grainId;
    private readonly string _prefix;
    private readonly GrainState<IdBucketState>[] _rows;
    private readonly SemaphoreSlim[] _gates;

    public IdBuckets(IGrainStorage storage, GrainId grainId, string prefix, int count)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, 100);
        _storage = storage;
        _grainId = grainId;
        _prefix = prefix;
        _rows = [.. Enumerable.Range(0, count).Select(_ => new GrainState<IdBucketState>(new IdBucketState()))];
        _gates = [.. Enumerable.Range(0, count).Select(_ => new SemaphoreSlim(1, 1))];
    }

    /// <summary>The number of rows.</summary>
    public int Count => _rows.Length;

    /// <summary>Every id of every row, in ordinal order.</summary>
    public ImmutableSortedSet<string> Ids { get; private set; } = ImmutableSortedSet.Create<string>(StringComparer.Ordinal);

    /// <summary>The storage state name of row <paramref name="bucket"/> of a set named <paramref name="prefix"/>.</summary>
    public static string StateName(string prefix, int bucket) => $"{prefix}-b{bucket:00}";

    /// <summary>
    /// The row of <paramref name="id"/> among <paramref name="count"/>: 32-bit FNV-1a over the id's UTF-16 chars, then a
    /// multiplicative (Fibonacci) mix whose high bits choose the row — stable across processes (never
    /// <see cref="string.GetHashCode()"/>) and independent of <see cref="VmIndexShards.ShardOf"/>, which uses the low
    /// bits of the unmixed hash, so the ids of one shard spread over all its rows. Stored rows depend on this mapping.
    /// </summary>
    public static int BucketOf(string id, int count)
    {
        ArgumentNullException.ThrowIfNull(id);
        var mixed = Naming.StableHash.Fnv1a(id) * 2654435769u;
        return (int)(((ulong)mixed * (ulong)count) >> 32);
    }

    /// <summary>Rows read at once: 64 index grains activating together (an audit pass, a restart) once asked PostgreSQL
    /// for 4,096 rows at the same moment and ran it out of connections.</summary>
    private const int LoadConcurrency = 8;

    /// <summary>Reads every row (a row never written is empty), a few at a time.</summary>
    public async Task LoadAsync()
    {
        await Parallel.ForEachAsync(Enumerable.Range(0, _rows.Length), new ParallelOptions { MaxDegreeOfParallelism = LoadConcurrency, TaskScheduler = TaskScheduler.Current },
            async (i, _) => await _storage.ReadStateAsync(StateName(_prefix, i), _grainId, _rows[i]));
        var all = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
        foreach (var row in _rows)
        {
            all.UnionWith(IdsOf(row));
        }

        Ids = all.ToImmutable();
    }

    /// <summary>Adds <paramref name="ids"/>, writing only the rows they change (none when all are present).</summary>
    public Task AddAsync(IEnumerable<string> ids) => ChangeAsync(ids, add: true);

    /// <summary>Removes <paramref name="ids"/>, writing only the rows they change (none when none is present).</summary>
    public Task RemoveAsync(IEnumerable<string> ids) => ChangeAsync(ids, add: false);

    /// <summary>The ids stored in row <paramref name="bucket"/> as last read or written (for tests and diagnostics).</summary>
    public ImmutableArray<string> RowIds(int bucket) => IdsOf(_rows[bucket]);

    private static ImmutableArray<string> IdsOf(GrainState<IdBucketState> row) =>
        row.State?.Ids is { IsDefault: false } ids ? ids : [];

    private Task ChangeAsync(IEnumerable<string> ids, bool add)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var groups = ids.Distinct(StringComparer.Ordinal).GroupBy(id => BucketOf(id, Count)).ToList();
        return groups.Count == 1 ? ChangeRowAsync(groups[0].Key, [.. groups[0]], add) : Task.WhenAll(groups.Select(g => ChangeRowAsync(g.Key, [.. g], add)));
    }

    private async Task ChangeRowAsync(int bucket, string[] ids, bool add)
    {
        var gate = _gates[bucket];
        await gate.WaitAsync();
        try
        {
            var row = _rows[bucket];
            var before = row.State;
            var current = IdsOf(row);
            var changed = add
                ? current.Union(ids, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToImmutableArray()
                : current.Except(ids, StringComparer.Ordinal).ToImmutableArray();
            if (changed.Length == current.Length)
            {
                return;
            }

            row.State = new IdBucketState { Ids = changed };
            try
            {
                await _storage.WriteStateAsync(StateName(_prefix, bucket), _grainId, row);
            }
            catch (InconsistentStateException)
            {
                row.State = before;
                try
                {
                    await _storage.ReadStateAsync(StateName(_prefix, bucket), _grainId, row);
                    Ids = Ids.Except(current).Union(IdsOf(row));
                }
                catch (Exception)
                {
                    // The database is still away: the next write conflicts again and reads again.
                }

                throw;
            }
            catch
            {
                row.State = before;
                throw;
            }

            Ids = add ? Ids.Union(ids) : Ids.Except(ids);
        }
        finally
        {
            gate.Release();
        }
    }
}
