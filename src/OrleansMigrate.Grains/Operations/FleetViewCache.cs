using System.Collections.Immutable;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Operations;

/// <summary>
/// A silo-local, briefly cached list of the host records, for fleet operations that choose destinations many times a
/// second (every drain of a campaign batch). One refresh at a time unless a change (Invalidate) makes the one in flight
/// stale; a caller may see records up to the given age —
/// the scheduler checks the chosen destination against fresh records anyway, so staleness costs a retry, never a
/// wrong placement.
/// </summary>
public sealed class FleetViewCache(IGrainFactory grains, TimeProvider time)
{
    private readonly Lock _gate = new();
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
            var now = time.GetUtcNow();
            if (_hosts is null || _hosts.IsFaulted || _hosts.IsCanceled || _invalidated || (_hosts.IsCompleted && now - _fetchedAt > maxAge))
            {
                _fetchedAt = now;
                _invalidated = false;
                _hosts = grains.GetGrain<IFleetGrain>(IFleetGrain.Key).ListHostsAsync();
            }

            return _hosts;
        }
    }
}
