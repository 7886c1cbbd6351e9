using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Faults;

namespace OrleansMigrate.Grains.Cloud;

/// <summary>
/// An in-memory distributed block store with the latencies of <see cref="CloudBackendOptions"/>. Each action
/// reports to the <see cref="IFaultInjector"/>, waits its latency, then checks and applies its change
/// atomically, so <see cref="Inspect"/> and <see cref="CanWrite"/> show what a real store would hold.
/// </summary>
/// <remarks>
/// The store lives in this silo's memory. A disk it has never seen (provisioned by another silo's
/// simulation, or before this process started) is adopted at its first action: a host it has not seen on
/// such a disk is taken to hold whatever that action needs, since the store cannot know better. Disks
/// provisioned here are checked strictly.
/// </remarks>
public sealed class SimulatedCloudDiskBackend : ICloudDiskBackend
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Volume> _volumes = new(StringComparer.Ordinal);
    private readonly CloudBackendOptions _options;
    private readonly IFaultInjector _faults;
    private readonly TimeProvider _time;

    public SimulatedCloudDiskBackend(CloudBackendOptions options, IFaultInjector faults, TimeProvider time)
    {
        CloudBackendOptionsValidator.ThrowIfInvalid(options);
        ArgumentNullException.ThrowIfNull(faults);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _faults = faults;
        _time = time;
    }

    public bool FencesOnGrant => _options.DiskFencing;

    /// <summary>What the store holds for <paramref name="diskId"/>, or null when it holds nothing.</summary>
    public BlockStoreVolume? Inspect(string diskId)
    {
        lock (_lock)
        {
            return _volumes.TryGetValue(diskId, out var v)
                ? new BlockStoreVolume(diskId, v.Generation, v.Handles.ToImmutableDictionary(StringComparer.Ordinal))
                : null;
        }
    }

    /// <summary>Whether a write from <paramref name="hostId"/> would be accepted now: it holds an un-paused
    /// read-write handle granted at the disk's current generation.</summary>
    public bool CanWrite(string diskId, string hostId)
    {
        lock (_lock)
        {
            return _volumes.TryGetValue(diskId, out var v)
                && v.Handles.TryGetValue(hostId, out var h)
                && h.Mode == DiskAttachmentMode.ReadWrite
                && h.Generation == v.Generation;
        }
    }

    public async Task CreateAsync(string diskId, string hostId, CancellationToken cancellationToken = default)
    {
        await _faults.BeforeAsync(CloudFaultSteps.DiskCreate, diskId, cancellationToken);
        lock (_lock)
        {
            if (_volumes.TryGetValue(diskId, out var existing) && !existing.Adopted)
            {
                if (existing.Handles.Count == 1 && existing.Handles.TryGetValue(hostId, out var h) && h.Mode == DiskAttachmentMode.ReadWrite)
                {
                    return;
                }

                throw OmigException.Conflict("disk_id", $"the block store already holds disk '{diskId}'");
            }

            var volume = new Volume(adopted: false) { Generation = 1 };
            volume.Handles[hostId] = new DiskAttachment(DiskAttachmentMode.ReadWrite, 1);
            _volumes[diskId] = volume;
        }
    }

    public async Task DeleteAsync(string diskId, CancellationToken cancellationToken = default)
    {
        await _faults.BeforeAsync(CloudFaultSteps.DiskDelete, diskId, cancellationToken);
        lock (_lock)
        {
            _volumes.Remove(diskId);
        }
    }

    public async Task OpenReadOnlyAsync(string diskId, string hostId, CancellationToken cancellationToken = default)
    {
        await _faults.BeforeAsync(FaultSteps.DiskOpenReadOnly, diskId, cancellationToken);
        await DelayAsync(_options.DiskOpenReadOnlyMs, cancellationToken);
        lock (_lock)
        {
            var v = GetOrAdopt(diskId, hostId);
            v.Handles.TryAdd(hostId, new DiskAttachment(DiskAttachmentMode.ReadOnly, v.Generation));
        }
    }

    public async Task PauseAsync(string diskId, string hostId, CancellationToken cancellationToken = default)
    {
        await _faults.BeforeAsync(FaultSteps.DiskPause, diskId, cancellationToken);
        await DelayAsync(_options.DiskPauseMs, cancellationToken);
        lock (_lock)
        {
            var known = Knows(diskId, hostId);
            var v = GetOrAdopt(diskId, hostId);
            if (!v.Handles.TryGetValue(hostId, out var handle))
            {
                if (known)
                {
                    throw OmigException.Conflict("disk", $"the block store has no handle of host '{hostId}' on disk '{diskId}' to pause");
                }

                v.Handles[hostId] = new DiskAttachment(DiskAttachmentMode.Paused, v.Generation);
                return;
            }

            switch (handle.Mode)
            {
                case DiskAttachmentMode.Paused:
                    return;
                case DiskAttachmentMode.ReadWrite:
                    v.Handles[hostId] = handle with { Mode = DiskAttachmentMode.Paused };
                    return;
                default:
                    throw OmigException.Conflict("disk", $"host '{hostId}' holds disk '{diskId}' read-only; the block store pauses only a read-write handle");
            }
        }
    }

    public async Task ReopenReadWriteAsync(string diskId, string hostId, long generation, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(generation, 1);
        await _faults.BeforeAsync(FaultSteps.DiskPromote, diskId, cancellationToken);
        await DelayAsync(_options.DiskReopenReadWriteMs + (HasHandle(diskId, hostId) ? 0 : _options.DiskOpenReadOnlyMs), cancellationToken);
        lock (_lock)
        {
            GrantWrite(diskId, GetOrAdopt(diskId, hostId), hostId, generation, _options.DiskFencing);
        }
    }

    public async Task ResumeWriterAsync(string diskId, string hostId, long generation, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(generation, 1);
        await _faults.BeforeAsync(FaultSteps.DiskRestore, diskId, cancellationToken);
        bool unpause;
        lock (_lock)
        {
            unpause = IsUnpause(diskId, hostId, generation);
        }

        await DelayAsync(unpause ? _options.DiskUnpauseMs : _options.DiskReopenReadWriteMs + (HasHandle(diskId, hostId) ? 0 : _options.DiskOpenReadOnlyMs), cancellationToken);
        lock (_lock)
        {
            var v = GetOrAdopt(diskId, hostId);
            if (IsUnpause(diskId, hostId, generation))
            {
                v.Handles[hostId] = new DiskAttachment(DiskAttachmentMode.ReadWrite, generation);
                return;
            }

            GrantWrite(diskId, v, hostId, generation, _options.DiskFencing);
        }
    }

    public async Task CloseAsync(string diskId, string hostId, CancellationToken cancellationToken = default)
    {
        await _faults.BeforeAsync(FaultSteps.DiskClose, diskId, cancellationToken);
        await DelayAsync(_options.DiskCloseMs, cancellationToken);
        lock (_lock)
        {
            if (_volumes.TryGetValue(diskId, out var v))
            {
                v.Handles.Remove(hostId);
                v.SeenHosts.Add(hostId);
            }
        }
    }

    /// <summary>Grants <paramref name="hostId"/> a read-write handle at <paramref name="generation"/>: the
    /// fencing check. A newer generation blocks the I/O of every other read-write handle.</summary>
    private static void GrantWrite(string diskId, Volume v, string hostId, long generation, bool fences)
    {
        if (generation < v.Generation)
        {
            throw OmigException.Conflict("fencing_generation",
                $"the block store refused a read-write open of disk '{diskId}' on host '{hostId}' at generation {generation}: the disk is at generation {v.Generation}");
        }

        if (generation == v.Generation)
        {
            foreach (var (host, handle) in v.Handles)
            {
                if (host != hostId && handle.Mode == DiskAttachmentMode.ReadWrite && handle.Generation == generation)
                {
                    throw OmigException.Conflict("fencing_generation",
                        $"the block store refused a read-write open of disk '{diskId}' on host '{hostId}': generation {generation} is held read-write by host '{host}'");
                }
            }
        }
        else if (!fences)
        {
            // A store without fencing cannot block a writer's I/O by granting another: two writers would coexist.
            foreach (var (host, handle) in v.Handles)
            {
                if (host != hostId && handle.Mode == DiskAttachmentMode.ReadWrite)
                {
                    throw OmigException.Conflict("disk",
                        $"the block store does not fence: disk '{diskId}' is written by host '{host}'; pause it before opening it read-write on host '{hostId}'");
                }
            }

            v.Generation = generation;
        }
        else
        {
            foreach (var (host, handle) in v.Handles.ToList())
            {
                if (host != hostId && handle.Mode == DiskAttachmentMode.ReadWrite)
                {
                    v.Handles[host] = handle with { Mode = DiskAttachmentMode.Paused };
                }
            }

            v.Generation = generation;
        }

        v.Handles[hostId] = new DiskAttachment(DiskAttachmentMode.ReadWrite, generation);
    }

    /// <summary>Whether resuming <paramref name="hostId"/> at <paramref name="generation"/> is a plain un-pause:
    /// its handle was granted at that generation and no newer one was granted since. Call under the lock.</summary>
    private bool IsUnpause(string diskId, string hostId, long generation) =>
        _volumes.TryGetValue(diskId, out var v)
        && v.Generation == generation
        && v.Handles.TryGetValue(hostId, out var h)
        && h.Generation == generation
        && h.Mode is DiskAttachmentMode.Paused or DiskAttachmentMode.ReadWrite;

    private bool HasHandle(string diskId, string hostId)
    {
        lock (_lock)
        {
            return _volumes.TryGetValue(diskId, out var v) && v.Handles.ContainsKey(hostId);
        }
    }

    /// <summary>Whether the store knows what <paramref name="hostId"/> holds on the disk. Call under the lock.</summary>
    private bool Knows(string diskId, string hostId) =>
        _volumes.TryGetValue(diskId, out var v) && (!v.Adopted || v.SeenHosts.Contains(hostId));

    /// <summary>The disk's volume, adopted when the store has never seen it. Call under the lock.</summary>
    private Volume GetOrAdopt(string diskId, string hostId)
    {
        if (!_volumes.TryGetValue(diskId, out var v))
        {
            v = new Volume(adopted: true);
            _volumes[diskId] = v;
        }

        v.SeenHosts.Add(hostId);
        return v;
    }

    private Task DelayAsync(int milliseconds, CancellationToken cancellationToken) =>
        SimulatedLatency.DelayAsync(_time, milliseconds, cancellationToken);

    /// <param name="adopted">True when the store learned of the disk from an action rather than provisioning it.</param>
    private sealed class Volume(bool adopted)
    {
        public bool Adopted { get; } = adopted;

        public long Generation { get; set; }

        public Dictionary<string, DiskAttachment> Handles { get; } = new(StringComparer.Ordinal);

        /// <summary>Hosts whose handle the store has seen acted on; on an adopted disk the others are unknown.</summary>
        public HashSet<string> SeenHosts { get; } = new(StringComparer.Ordinal);
    }
}
