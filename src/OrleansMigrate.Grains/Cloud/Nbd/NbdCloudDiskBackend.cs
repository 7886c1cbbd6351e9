using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json.Nodes;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Grains.Cloud.Nbd;

/// <summary>
/// A block store on a real network block device server (<see cref="QemuStorageDaemon"/>). A cloud disk is a raw image
/// file in the daemon's image directory and a block node in the daemon (<c>blockdev-add</c>); every host that holds a
/// handle on it has its OWN NBD export (<c>block-export-add type=nbd</c>), named <c>DISK@HOST#gN</c>
/// (<see cref="ExportName"/>), served from its own block node over the disk's (a <c>throttle</c> filter without limits),
/// so what a holder writes after its fence is counted apart (<see cref="FenceAuditsAsync"/>). Fencing a holder removes its export with
/// <c>block-export-del mode=hard</c>: the daemon drops the holder's connections at once, and the action returns only once
/// the export is gone from <c>query-block-exports</c> (its in-flight requests have ended), so no write of the holder can
/// land afterwards; the holder's QEMU can never reconnect to a name that no longer exists.
/// </summary>
/// <remarks>
/// <para>Mapping of <see cref="ICloudDiskBackend"/>: a read-write handle is a live export at the disk's generation; a
/// paused handle is a removed export whose name is kept, so handing the disk back (<see cref="ResumeWriterAsync"/>)
/// re-adds an export of the same name and the holder's QEMU reconnects to it (QEMU 7.2's NBD client reconnects on its
/// next request, but only when the disk was attached with <c>reconnect-delay</c> &gt; 0 — with 0 a lost connection
/// fails every request for good; and a request made while the name is absent ends the client's reconnecting for good
/// too, so the holder must make no I/O while fenced: the source VM of a migration is stopped and its disks inactive).</para>
/// <para>"Read-only" (<see cref="OpenReadOnlyAsync"/>) is not an NBD read-only export: QEMU cannot open a read-only
/// export read-write later without reopening it. The export is writable, and the holder is a migration destination
/// started with <c>-incoming</c> and the <c>late-block-activate</c> capability, whose block nodes stay inactive (no
/// write, not even a flush) until it is resumed with <c>cont</c>, which happens only after the take-over. The store
/// still fences such an export when it grants another host a newer generation, so a prepared destination that was not
/// chosen cannot write either.</para>
/// <para>The daemon may die (killed, crashed, its host restarted). Its images are files and survive; its block nodes
/// and exports do not. A daemon this store started is started again at once (its <see cref="QemuStorageDaemon.Exited"/>),
/// an attached one is attached again (at the next call, or the store's look every second) once whoever supervises it has
/// restarted it; either way the store then adds back, from its table, each disk's node and every export that was live —
/// never a fenced one — so a holder's QEMU (attached with <c>reconnect-delay</c>) reconnects on its next request. A call in flight when the daemon dies, or
/// made while it is down, fails with Unavailable naming the daemon, so a migration step rolls back; the table keeps what
/// it held. Known gap: between the restarted daemon's NBD server starting and its exports being added back (tens of
/// milliseconds), a client that reconnects finds its export absent and gives up for good.</para>
/// <para>The handle table lives in this object (one backend owns a daemon's exports); a disk it did not create is
/// refused with Conflict rather than adopted.</para>
/// </remarks>
public sealed partial class NbdCloudDiskBackend : ICloudDiskBackend, IAsyncDisposable, IDisposable
{
    /// <summary>Longest wait for a removed export to be gone.</summary>
    private static readonly TimeSpan RemoveTimeout = TimeSpan.FromSeconds(10);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, Volume> _volumes = new(StringComparer.Ordinal);
    private QemuStorageDaemon _daemon;
    private readonly long _imageBytes;

    /// <param name="daemon">The daemon serving the disks, started or attached by the caller; the store owns it from here on
    /// (it starts it again or attaches again when it dies, and disposes it).</param>
    /// <param name="imageSizeMiB">Size of a new disk image.</param>
    public NbdCloudDiskBackend(QemuStorageDaemon daemon, int imageSizeMiB = NbdDiskOptions.DefaultImageSizeMiB)
    {
        ArgumentNullException.ThrowIfNull(daemon);
        ArgumentOutOfRangeException.ThrowIfLessThan(imageSizeMiB, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(imageSizeMiB, NbdDiskOptions.MaxImageSizeMiB);
        _daemon = daemon;
        _imageBytes = imageSizeMiB * 1024L * 1024L;
        daemon.Exited += OnDaemonExited;
        StartWatching();
    }

    /// <summary>Granting a newer generation removes every other holder's export: the store fences.</summary>
    public bool FencesOnGrant => true;

    /// <summary>The daemon serving the disks now (a new object after each restart, <see cref="DaemonRestarts"/>).</summary>
    public QemuStorageDaemon Daemon => _daemon;

    /// <summary>The NBD export name of <paramref name="hostId"/>'s handle made for <paramref name="generation"/>.</summary>
    public static string ExportName(string diskId, string hostId, long generation) =>
        $"{diskId}@{hostId}#g{generation.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The image file of <paramref name="diskId"/>.</summary>
    public string ImagePath(string diskId) => Path.Combine(_daemon.ImageDirectory, diskId + ".raw");

    /// <summary>Where <paramref name="hostId"/>'s QEMU attaches <paramref name="diskId"/>: the server and the export of
    /// that host's handle. A destination gets its export from <see cref="OpenReadOnlyAsync"/> before its QEMU starts,
    /// named for the generation it will be granted. NotFound when the host holds no handle.</summary>
    public NbdAttachment AttachmentFor(string diskId, string hostId) => Attachment(diskId, hostId);

    /// <summary>A guest's QEMU attaches each disk over NBD to its host's own export.</summary>
    public bool AttachesGuests => true;

    public BlockDeviceAttachment GuestAttachment(string diskId, string hostId)
    {
        var a = Attachment(diskId, hostId);
        return new BlockDeviceAttachment("nbd", a.Host, a.Port, a.ExportName, a.Generation);
    }

    private NbdAttachment Attachment(string diskId, string hostId)
    {
        _gate.Wait();
        try
        {
            return _volumes.TryGetValue(diskId, out var v) && v.Handles.TryGetValue(hostId, out var h)
                ? new NbdAttachment(_daemon.NbdHost, _daemon.NbdPort, h.ExportName, h.ExportGeneration)
                : throw OmigException.NotFound("disk", $"host '{hostId}' holds no handle on disk '{diskId}' in the nbd block store");
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>What the store holds for <paramref name="diskId"/> (as <see cref="SimulatedCloudDiskBackend.Inspect"/>), or null.</summary>
    public BlockStoreVolume? Inspect(string diskId)
    {
        _gate.Wait();
        try
        {
            return _volumes.TryGetValue(diskId, out var v)
                ? new BlockStoreVolume(diskId, v.Generation, v.Handles.ToImmutableDictionary(h => h.Key, h => new DiskAttachment(h.Value.Mode, h.Value.Generation), StringComparer.Ordinal))
                : null;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The export names the daemon serves now for <paramref name="diskId"/>, read from the daemon
    /// (<c>query-block-exports</c>, mapped back through this store's ids); Unavailable naming the daemon while it is down.</summary>
    public async Task<IReadOnlySet<string>> LiveExportsAsync(string diskId, CancellationToken cancellationToken = default)
    {
        var live = new HashSet<string>(StringComparer.Ordinal);
        await LockedAsync(diskId, null, async () =>
        {
            var ids = await ExportIdsAsync(cancellationToken).ConfigureAwait(false);
            if (_volumes.TryGetValue(diskId, out var v))
            {
                foreach (var h in v.Handles.Values)
                {
                    if (ids.Contains(h.ExportId))
                    {
                        live.Add(h.ExportName);
                    }
                }
            }

            // An export of the disk's node this table does not know would be a leak: named by its id.
            var known = v?.Handles.Values.Select(h => h.ExportId).ToHashSet(StringComparer.Ordinal) ?? [];
            foreach (var id in ids)
            {
                if (id.StartsWith(ExportIdPrefix(diskId), StringComparison.Ordinal) && !known.Contains(id))
                {
                    live.Add("unknown:" + id);
                }
            }
        }, cancellationToken).ConfigureAwait(false);
        return live;
    }

    public Task CreateAsync(string diskId, string hostId, CancellationToken cancellationToken = default) =>
        LockedAsync(diskId, hostId, async () =>
        {
            if (_volumes.TryGetValue(diskId, out var existing))
            {
                if (existing.Handles.Count == 1 && existing.Handles.TryGetValue(hostId, out var h) && h.Mode == DiskAttachmentMode.ReadWrite)
                {
                    return;
                }

                throw OmigException.Conflict("disk_id", $"the block store already holds disk '{diskId}'");
            }

            var image = ImagePath(diskId);
            var node = NodeName(diskId);
            try
            {
                using (var file = new FileStream(image, FileMode.CreateNew, FileAccess.Write))
                {
                    file.SetLength(_imageBytes);
                }
            }
            catch (IOException e) when (File.Exists(image))
            {
                throw OmigException.Conflict("disk_id", $"the nbd block store's image '{image}' exists already (a disk this store did not create): {e.Message}");
            }

            var volume = new Volume(node, image) { Generation = 1 };
            var handle = new Handle(DiskAttachmentMode.ReadWrite, 1, diskId, hostId, 1);
            try
            {
                await AddNodeAsync(volume, cancellationToken).ConfigureAwait(false);
                await AddExportAsync(volume, handle, cancellationToken).ConfigureAwait(false);
                volume.Handles[hostId] = handle;
                _volumes[diskId] = volume;
            }
            catch
            {
                await TryRemoveNodeAsync(handle.FilterNode).ConfigureAwait(false);
                await TryRemoveNodeAsync(node).ConfigureAwait(false);
                File.Delete(image);
                throw;
            }
        }, cancellationToken);

    public Task DeleteAsync(string diskId, CancellationToken cancellationToken = default) =>
        LockedAsync(diskId, null, async () =>
        {
            if (!_volumes.TryGetValue(diskId, out var v))
            {
                return;
            }

            foreach (var h in v.Handles.Values)
            {
                if (h.Live)
                {
                    await RemoveExportAsync(h, hard: true, cancellationToken).ConfigureAwait(false);
                }

                await EndFenceAsync(v, h, "deleted", cancellationToken).ConfigureAwait(false);
                await RemoveFilterAsync(h).ConfigureAwait(false);
            }

            await _daemon.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = v.Node }, cancellationToken).ConfigureAwait(false);
            File.Delete(v.ImagePath);
            _volumes.Remove(diskId);
        }, cancellationToken);

    public Task OpenReadOnlyAsync(string diskId, string hostId, CancellationToken cancellationToken = default) =>
        LockedAsync(diskId, hostId, async () =>
        {
            var v = Get(diskId);
            if (v.Handles.ContainsKey(hostId))
            {
                return;
            }

            // Named for the generation a take-over will grant it, so the destination's QEMU starts on the export it keeps.
            var handle = new Handle(DiskAttachmentMode.ReadOnly, v.Generation, diskId, hostId, v.Generation + 1);
            await AddExportAsync(v, handle, cancellationToken).ConfigureAwait(false);
            v.Handles[hostId] = handle;
        }, cancellationToken);

    public Task PauseAsync(string diskId, string hostId, CancellationToken cancellationToken = default) =>
        LockedAsync(diskId, hostId, async () =>
        {
            var v = Get(diskId);
            if (!v.Handles.TryGetValue(hostId, out var handle))
            {
                throw OmigException.Conflict("disk", $"the block store has no handle of host '{hostId}' on disk '{diskId}' to pause");
            }

            switch (handle.Mode)
            {
                case DiskAttachmentMode.Paused:
                    return;
                case DiskAttachmentMode.ReadWrite:
                    // NBD has no way to hold a client's requests: pausing is fencing (the export removed, its name kept).
                    await FenceAsync(v, handle, v.Generation, cancellationToken).ConfigureAwait(false);
                    handle.Mode = DiskAttachmentMode.Paused;
                    return;
                default:
                    throw OmigException.Conflict("disk", $"host '{hostId}' holds disk '{diskId}' read-only; the block store pauses only a read-write handle");
            }
        }, cancellationToken);

    /// <summary>
    /// Makes <paramref name="hostId"/> the writer at <paramref name="generation"/>; a newer generation first fences every
    /// other holder (their exports removed hard, and gone, before the grant). In a migration this is the in-downtime step.
    /// WHERE TO CALL IT: after the source QEMU has stopped and flushed its disks and before the destination is resumed
    /// (<c>cont</c> activates its disks, and it writes). QEMU 7.2 stops and flushes the source (drain + flush) before it
    /// pauses at <c>pre-switchover</c>, and inactivating the disks when it completes flushes nothing more when nothing
    /// was written since (raw over NBD has no metadata), so the lab found a fence at <c>pre-switchover</c> safe
    /// (NbdMigrationTests); the point that holds for any image format is after the source reports the migration
    /// <c>completed</c> (it has flushed and inactivated its disks through its export) and before <c>cont</c> on the
    /// destination. A holder that makes a request while fenced gets an I/O error and, QEMU 7.2's NBD client giving up
    /// once a reconnect finds the export gone, never reconnects, even to an export re-added for a rollback
    /// (NbdMigrationTests shows it).
    /// </summary>
    public Task ReopenReadWriteAsync(string diskId, string hostId, long generation, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(generation, 1);
        return LockedAsync(diskId, hostId, () => GrantWriteAsync(diskId, Get(diskId), hostId, generation, cancellationToken), cancellationToken);
    }

    /// <summary>Rollback: hands the disk back to <paramref name="hostId"/>. Its export is re-added under the name its QEMU
    /// is attached to (the QEMU reconnects on its next request), after the other holders are fenced when
    /// <paramref name="generation"/> is newer than the disk's.</summary>
    public Task ResumeWriterAsync(string diskId, string hostId, long generation, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(generation, 1);
        return LockedAsync(diskId, hostId, async () =>
        {
            var v = Get(diskId);
            if (v.Generation == generation && v.Handles.TryGetValue(hostId, out var h) && h.Generation == generation
                && h.Mode is DiskAttachmentMode.Paused or DiskAttachmentMode.ReadWrite)
            {
                await EnsureLiveAsync(v, h, cancellationToken).ConfigureAwait(false);
                h.Mode = DiskAttachmentMode.ReadWrite;
                return;
            }

            await GrantWriteAsync(diskId, v, hostId, generation, cancellationToken).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <summary>Closes <paramref name="hostId"/>'s handle: its export removed gracefully (<c>mode=safe</c>, refused by
    /// the daemon while a client is still connected, then removed hard); no effect when it holds none.</summary>
    public Task CloseAsync(string diskId, string hostId, CancellationToken cancellationToken = default) =>
        LockedAsync(diskId, hostId, async () =>
        {
            if (!_volumes.TryGetValue(diskId, out var v) || !v.Handles.TryGetValue(hostId, out var h))
            {
                return;
            }

            if (h.Live)
            {
                try
                {
                    await RemoveExportAsync(h, hard: false, cancellationToken).ConfigureAwait(false);
                }
                catch (QmpCommandException)
                {
                    await RemoveExportAsync(h, hard: true, cancellationToken).ConfigureAwait(false);
                }
            }

            await EndFenceAsync(v, h, "closed", cancellationToken).ConfigureAwait(false);
            await RemoveFilterAsync(h).ConfigureAwait(false);
            v.Handles.Remove(hostId);
        }, cancellationToken);
}
