using System.Collections.Concurrent;
using Orleans.Serialization;
using Orleans.Storage;
using OrleansMigrate.Grains.Fleet;

namespace OrleansMigrate.Tests.Cloud;

/// <summary>One state write that reached the storage: what was written, how many flows it held and its size
/// in Orleans' binary serialization (the format the PostgreSQL storage writes).</summary>
public sealed record StateWrite(string StateName, GrainId GrainId, int Flows, int Relays, int Bytes);

/// <summary>
/// A grain storage in front of another that records every write and fails the writes a test arms (before they
/// reach the inner storage, so nothing is stored) and the reads it arms, to assert on what a change writes rather than on time.
/// </summary>
public sealed class RecordingGrainStorage(IGrainStorage inner, Serializer serializer) : IGrainStorage
{
    private readonly ConcurrentQueue<StateWrite> _writes = new();
    private volatile Func<string, GrainId, bool>? _fail;
    private volatile Func<string, GrainId, bool>? _failReads;

    /// <summary>The writes since the last <see cref="ClearWrites"/>, in order (failed ones excluded).</summary>
    public IReadOnlyList<StateWrite> Writes => [.. _writes];

    public void ClearWrites() => _writes.Clear();

    /// <summary>Fails every write <paramref name="when"/> matches until <see cref="StopFailing"/>.</summary>
    public void FailWrites(Func<string, GrainId, bool> when) => _fail = when;

    /// <summary>Fails every read <paramref name="when"/> matches until <see cref="StopFailing"/>.</summary>
    public void FailReads(Func<string, GrainId, bool> when) => _failReads = when;

    public void StopFailing() => (_fail, _failReads) = (null, null);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        _failReads?.Invoke(stateName, grainId) == true
            ? throw new IOException($"injected storage failure reading '{stateName}' of {grainId}")
            : inner.ReadStateAsync(stateName, grainId, grainState);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_fail?.Invoke(stateName, grainId) == true)
        {
            throw new IOException($"injected storage failure writing '{stateName}' of {grainId}");
        }

        // Measured before the write: the grain may change its state object as soon as the write returns.
        var (flows, relays) = grainState.State switch
        {
            VpcFlowShardGrainState shard => (shard.Flows.Count, 0),
            VpcFlowTableGrainState table => (table.Flows.Count, table.Relays.IsDefault ? 0 : table.Relays.Length),
            _ => (0, 0),
        };
        var bytes = serializer.SerializeToArray(grainState.State).Length;
        await inner.WriteStateAsync(stateName, grainId, grainState);
        _writes.Enqueue(new StateWrite(stateName, grainId, flows, relays, bytes));
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ClearStateAsync(stateName, grainId, grainState);
}
