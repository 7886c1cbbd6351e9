using System.Collections.Concurrent;
using Orleans.Storage;

namespace OrleansMigrate.Tests.Cloud;

/// <summary>
/// Grain storage that delegates to another and records whether two writes of one grain's state were ever
/// in flight at once (a storage with ETags, PostgreSQL's, refuses the second). Each write is held a couple of
/// milliseconds first, so an overlap the grain allows shows up.
/// </summary>
public sealed class WriteOverlapProbe(IGrainStorage inner) : IGrainStorage
{
    private readonly ConcurrentDictionary<GrainId, int> _inFlight = new();
    private int _overlaps;

    /// <summary>Writes that started while another write of the same grain was in flight.</summary>
    public int Overlaps => Volatile.Read(ref _overlaps);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ReadStateAsync(stateName, grainId, grainState);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        TrackAsync(grainId, () => inner.WriteStateAsync(stateName, grainId, grainState));

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        TrackAsync(grainId, () => inner.ClearStateAsync(stateName, grainId, grainState));

    private async Task TrackAsync(GrainId grainId, Func<Task> write)
    {
        if (_inFlight.AddOrUpdate(grainId, 1, (_, n) => n + 1) > 1)
        {
            Interlocked.Increment(ref _overlaps);
        }

        try
        {
            await Task.Delay(2);
            await write();
        }
        finally
        {
            _inFlight.AddOrUpdate(grainId, 0, (_, n) => n - 1);
        }
    }
}
