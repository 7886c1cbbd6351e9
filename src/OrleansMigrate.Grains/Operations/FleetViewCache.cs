using System.Collections.Immutable;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Operations;

/// <summary>
/// A silo-local, briefly cached list of the host records, for fleet operations that choose destinations many times a
/// second (every drain of a campaign batch). One refresh at a time; a caller may see records up to the given age —
/// the scheduler checks the chosen destination against fresh records anyway, so staleness costs a retry, never a
/// wrong placement.
/// </summary>
public sealed class FleetViewCache(IGrainFactory grains, TimeProvider time)
{
    private static readonly TimeSpan MinRefresh = TimeSpan.FromMilliseconds(100);
    private readonly Lock _gate = new();
    private Task<ImmutableArray<HostRecord>>? _hosts;
    private DateTimeOffset _fetchedAt;
    private bool _invalidated;

    /// <summary>A host changed in a way choices depend on (one came back into service): the next read refreshes, though
    /// not more often than every <see cref="MinRefresh"/>.</summary>
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
            var age = now - _fetchedAt;
            if (_hosts is null || _hosts.IsFaulted || _hosts.IsCanceled || (_hosts.IsCompleted && (age > maxAge || (_invalidated && age > MinRefresh))))
            {
                _fetchedAt = now;
                _invalidated = false;
                _hosts = grains.GetGrain<IFleetGrain>(IFleetGrain.Key).ListHostsAsync();
            }

            return _hosts;
        }
    }
}
