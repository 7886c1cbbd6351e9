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
    private readonly Lock _gate = new();
    private Task<ImmutableArray<HostRecord>>? _hosts;
    private DateTimeOffset _fetchedAt;

    public Task<ImmutableArray<HostRecord>> HostsAsync(TimeSpan maxAge)
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_hosts is null || _hosts.IsFaulted || _hosts.IsCanceled || (_hosts.IsCompleted && now - _fetchedAt > maxAge))
            {
                _fetchedAt = now;
                _hosts = grains.GetGrain<IFleetGrain>(IFleetGrain.Key).ListHostsAsync();
            }

            return _hosts;
        }
    }
}
