using System.Collections.Immutable;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Operations;

/// <summary>
/// A silo-local, briefly cached list of the host records (kept up to date from the <see cref="IHostDirectoryGrain"/> by
/// what changed, so a refresh costs the changes, not the fleet), for fleet operations that choose destinations many times a
/// second (every drain of a campaign batch). One refresh at a time unless a change (Invalidate) makes the one in flight
/// stale; a caller may see records up to the given age —
/// the scheduler checks the chosen destination against fresh records anyway, so staleness costs a retry, never a
/// wrong placement.
/// </summary>
public sealed class FleetViewCache(IGrainFactory grains, TimeProvider time)
{
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _fetching = new(1, 1);
    private readonly Dictionary<string, HostRecord> _records = new(StringComparer.Ordinal);
    private Guid _epoch;
    private long _cursor;
    private Task<HostView>? _snapshot;
    private Task<ImmutableArray<HostRecord>>? _hosts;
    private DateTimeOffset _fetchedAt;
    private bool _invalidated;

    /// <summary>A host changed in a way choices depend on (one came back into service): the next read fetches afresh, and
    /// a fetch already in flight (begun before the change) is not reused. Refreshes stay bounded by the invalidations —
    /// a campaign's hosts coming back, a few a second — while every choice made after a change sees it: a drain started
    /// the moment a host came back upgraded must see that host upgraded, or its VMs go elsewhere and move twice (a
    /// 100 ms floor between refreshes once let exactly that happen).</summary>
    public void Invalidate()
    {
        lock (_gate)
        {
            _invalidated = true;
        }
    }

    public Task<ImmutableArray<HostRecord>> HostsAsync(TimeSpan maxAge)
    {
        lock (_gate)
        {
            Refresh(maxAge);
            return _hosts!;
        }
    }

    /// <summary>The same read as <see cref="HostsAsync"/>, with what fleet operations derive from it (rankings, lookup
    /// by id) computed once per read and shared.</summary>
    public Task<HostView> ViewAsync(TimeSpan maxAge)
    {
        lock (_gate)
        {
            Refresh(maxAge);
            return _snapshot!;
        }
    }

    private void Refresh(TimeSpan maxAge)
    {
        var now = time.GetUtcNow();
        if (_snapshot is null || _snapshot.IsFaulted || _snapshot.IsCanceled || _invalidated || (_snapshot.IsCompleted && now - _fetchedAt > maxAge))
        {
            _fetchedAt = now;
            _invalidated = false;
            _snapshot = FetchAsync();
            _hosts = HostsOf(_snapshot);
        }
    }

    /// <summary>Brings the silo's copy of the host records up to date with what changed since the last read (one call
    /// to the host directory); reads the registry whole only while the directory is still filling itself. One at a
    /// time: a fetch begun after an invalidation waits for the one in flight, then reads again.</summary>
    private async Task<HostView> FetchAsync()
    {
        await _fetching.WaitAsync();
        try
        {
            var changes = await grains.GetGrain<IHostDirectoryGrain>(IHostDirectoryGrain.Key).ChangesSinceAsync(_epoch, _cursor);
            if (!changes.Complete)
            {
                return new HostView(await grains.GetGrain<IFleetGrain>(IFleetGrain.Key).ListHostsAsync());
            }

            if (changes.Full)
            {
                _records.Clear();
            }

            foreach (var host in changes.Changed)
            {
                _records[host.HostId] = host;
            }

            foreach (var id in changes.Removed)
            {
                _records.Remove(id);
            }

            (_epoch, _cursor) = (changes.Epoch, changes.Cursor);
            return new HostView([.. _records.Values.OrderBy(h => h.HostId, StringComparer.Ordinal)]);
        }
        finally
        {
            _fetching.Release();
        }
    }

    private static async Task<ImmutableArray<HostRecord>> HostsOf(Task<HostView> snapshot) => (await snapshot).Hosts;
}
