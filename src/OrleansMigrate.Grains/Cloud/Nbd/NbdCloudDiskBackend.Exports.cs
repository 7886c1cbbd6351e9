using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Grains.Cloud.Nbd;

/// <summary>The daemon side of the store: a write granted (the other holders fenced first), exports added and removed, and the handle table's types.</summary>
public sealed partial class NbdCloudDiskBackend
{
    /// <summary>The grant (the simulated store's rules with fencing): older generations and a generation another host
    /// writes at are refused; a newer one fences every other live export first.</summary>
    private async Task GrantWriteAsync(string diskId, Volume v, string hostId, long generation, CancellationToken cancellationToken)
    {
        if (generation < v.Generation)
        {
            throw OmigException.Conflict("fencing_generation",
                $"the block store refused a read-write open of disk '{diskId}' on host '{hostId}' at generation {generation}: the disk is at generation {v.Generation}");
        }

        if (generation == v.Generation)
        {
            foreach (var (host, other) in v.Handles)
            {
                if (host != hostId && other.Mode == DiskAttachmentMode.ReadWrite && other.Generation == generation)
                {
                    throw OmigException.Conflict("fencing_generation",
                        $"the block store refused a read-write open of disk '{diskId}' on host '{hostId}': generation {generation} is held read-write by host '{host}'");
                }
            }
        }
        else
        {
            foreach (var (host, other) in v.Handles)
            {
                if (host == hostId)
                {
                    continue;
                }

                if (other.Live)
                {
                    await FenceAsync(v, other, generation, cancellationToken).ConfigureAwait(false);
                }

                if (other.Mode == DiskAttachmentMode.ReadWrite)
                {
                    other.Mode = DiskAttachmentMode.Paused;
                }
            }

            v.Generation = generation;
        }

        if (v.Handles.TryGetValue(hostId, out var handle))
        {
            await EnsureLiveAsync(v, handle, cancellationToken).ConfigureAwait(false);
            handle.Mode = DiskAttachmentMode.ReadWrite;
            handle.Generation = generation;
        }
        else
        {
            var fresh = new Handle(DiskAttachmentMode.ReadWrite, generation, diskId, hostId, generation);
            await AddExportAsync(v, fresh, cancellationToken).ConfigureAwait(false);
            v.Handles[hostId] = fresh;
        }
    }

    private Task EnsureLiveAsync(Volume v, Handle h, CancellationToken cancellationToken) =>
        h.Live ? Task.CompletedTask : AddExportAsync(v, h, cancellationToken);

    /// <summary>The disk's block node over its raw image file (at create, and again after the daemon was restarted).</summary>
    private Task AddNodeAsync(Volume v, CancellationToken cancellationToken) =>
        _daemon.ExecuteAsync("blockdev-add", new JsonObject
        {
            ["driver"] = "raw",
            ["node-name"] = v.Node,
            ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = v.ImagePath },
        }, cancellationToken);

    /// <summary>Serves <paramref name="h"/>'s export over the holder's own block node (added first); a holder handed the
    /// disk back has its fence ended (counted) before its export is back.</summary>
    private async Task AddExportAsync(Volume v, Handle h, CancellationToken cancellationToken)
    {
        await EnsureFilterAsync(v, h, cancellationToken).ConfigureAwait(false);
        await EndFenceAsync(v, h, "handed-back", cancellationToken).ConfigureAwait(false);
        await _daemon.ExecuteAsync("block-export-add", new JsonObject
        {
            ["type"] = "nbd",
            ["id"] = h.ExportId,
            ["node-name"] = h.FilterNode,
            ["name"] = h.ExportName,
            ["writable"] = true,
        }, cancellationToken).ConfigureAwait(false);
        h.Live = true;
    }

    /// <summary>Removes an export and waits until the daemon no longer lists it (its connections closed and its
    /// requests ended): only then is the holder fenced.</summary>
    private async Task RemoveExportAsync(Handle h, bool hard, CancellationToken cancellationToken)
    {
        try
        {
            await _daemon.ExecuteAsync("block-export-del", new JsonObject { ["id"] = h.ExportId, ["mode"] = hard ? "hard" : "safe" }, cancellationToken).ConfigureAwait(false);
        }
        catch (QmpCommandException e) when (e.Description.Contains("not found", StringComparison.OrdinalIgnoreCase))
        {
            // Gone already (a repeat after a failure).
        }

        var started = Stopwatch.StartNew();
        while ((await ExportIdsAsync(cancellationToken).ConfigureAwait(false)).Contains(h.ExportId))
        {
            if (started.Elapsed > RemoveTimeout)
            {
                throw OmigException.Unavailable("disk", $"the NBD export '{h.ExportName}' was still served {RemoveTimeout.TotalSeconds} s after its removal");
            }

            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        }

        h.Live = false;
    }

    private async Task<HashSet<string>> ExportIdsAsync(CancellationToken cancellationToken)
    {
        var reply = await _daemon.ExecuteAsync("query-block-exports", cancellationToken: cancellationToken).ConfigureAwait(false);
        return (reply as JsonArray ?? []).Select(e => e?["id"]?.GetValue<string>()).OfType<string>().ToHashSet(StringComparer.Ordinal);
    }

    private async Task TryRemoveNodeAsync(string node)
    {
        try
        {
            await _daemon.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = node }).ConfigureAwait(false);
        }
        catch (QmpCommandException)
        {
            // Never added.
        }
    }

    private Volume Get(string diskId) =>
        _volumes.TryGetValue(diskId, out var v)
            ? v
            : throw OmigException.Conflict("disk", $"the nbd block store does not hold disk '{diskId}' (it adopts no disk it did not create)");

    private async Task LockedAsync(string diskId, string? hostId, Func<Task> action, CancellationToken cancellationToken)
    {
        FleetValidation.RequireId("disk_id", diskId);
        if (hostId is not null)
        {
            FleetValidation.RequireId("host", hostId);
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await EnsureDaemonLockedAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await action().ConfigureAwait(false);
            }
            catch (Exception e) when (IsDaemonFailure(e))
            {
                throw DaemonGone(_daemon, e);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A block node name (at most 31 characters, a letter first): <c>omd-DISK</c>, or a hash of a long id.</summary>
    private static string NodeName(string diskId) =>
        diskId.Length <= 27 ? "omd-" + diskId : "omd-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(diskId)))[..27];

    private static string ExportIdPrefix(string diskId) => "x-" + diskId + ".";

    private sealed class Volume(string node, string imagePath)
    {
        public string Node { get; } = node;

        public string ImagePath { get; } = imagePath;

        public long Generation { get; set; }

        public Dictionary<string, Handle> Handles { get; } = new(StringComparer.Ordinal);

        /// <summary>The fences of this disk's holders that ended, oldest first.</summary>
        public List<DiskFenceAudit> Audits { get; } = [];
    }

    /// <param name="exportGeneration">The generation the export's name carries (fixed for the handle's life: its QEMU
    /// is attached to that name).</param>
    private sealed class Handle(DiskAttachmentMode mode, long generation, string diskId, string hostId, long exportGeneration)
    {
        public DiskAttachmentMode Mode { get; set; } = mode;

        public long Generation { get; set; } = generation;

        public long ExportGeneration { get; } = exportGeneration;

        public string ExportName { get; } = NbdCloudDiskBackend.ExportName(diskId, hostId, exportGeneration);

        /// <summary>QEMU's export id (a QAPI id: no '@' or '#').</summary>
        public string ExportId { get; } = $"{ExportIdPrefix(diskId)}{hostId}.g{exportGeneration.ToString(CultureInfo.InvariantCulture)}";

        public bool Live { get; set; }

        public string HostId { get; } = hostId;

        /// <summary>The holder's own block node, which its export serves (<see cref="FilterNodeName"/>).</summary>
        public string FilterNode => FilterNodeName(ExportId);

        /// <summary>Whether the daemon has <see cref="FilterNode"/> now.</summary>
        public bool FilterAdded { get; set; }

        /// <summary>The fence that runs on this holder, or null.</summary>
        public FenceWatch? Fence { get; set; }
    }
}
