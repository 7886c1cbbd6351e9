using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using OrleansMigrate.Fleet;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Grains.Cloud.Nbd;

/// <summary>
/// What a fenced holder wrote after its fence, measured inside the daemon. Every handle's export serves its own block
/// node: a <c>throttle</c> filter with no limits over the disk's node, so each holder's writes pass through a node of
/// its own. As the store fences a holder it first starts a dirty bitmap (512-byte granularity) on that node, then
/// removes the export; any write of the holder that lands from that instant on — one in flight as the export goes, or
/// one through any path the daemon still had — sets bits in it. The count is read when the holder is closed or handed the
/// disk back (final, <see cref="DiskFenceAudit.End"/>), or when asked (so far). A daemon that restarted lost the bitmap:
/// that fence says "not checked", never zero.
/// </summary>
public sealed partial class NbdCloudDiskBackend
{
    /// <summary>The dirty bitmap a fence starts on the holder's node.</summary>
    private const string FenceBitmap = "omig-fence";

    /// <summary>The daemon's throttle group without limits that every holder's filter node names.</summary>
    private const string NoLimitGroup = "omig-nolimit";

    /// <summary>Fences kept per disk once ended (the oldest dropped first).</summary>
    private const int AuditsKept = 256;

    /// <summary>The daemon object the throttle group was added to (a restarted daemon needs it again).</summary>
    private QemuStorageDaemon? _groupAddedTo;

    public async Task<IReadOnlyList<DiskFenceAudit>> FenceAuditsAsync(string diskId, CancellationToken cancellationToken = default)
    {
        var audits = new List<DiskFenceAudit>();
        await LockedAsync(diskId, null, async () =>
        {
            if (!_volumes.TryGetValue(diskId, out var v))
            {
                return;
            }

            audits.AddRange(v.Audits);
            JsonArray? nodes = null;
            foreach (var h in v.Handles.Values.Where(h => h.Fence is not null))
            {
                // One read of the daemon's nodes for every running fence.
                nodes ??= h.Fence!.NotChecked is null ? await NodesAsync(cancellationToken).ConfigureAwait(false) : null;
                var (bytes, notChecked) = await FenceCountAsync(h, nodes, cancellationToken).ConfigureAwait(false);
                audits.Add(h.Fence!.Audit(null, null, bytes, notChecked));
            }
        }, cancellationToken).ConfigureAwait(false);
        return [.. audits.OrderBy(a => a.FencedAt)];
    }

    /// <summary>Fences <paramref name="h"/>: the bitmap on its node started, then its export removed hard (and gone). A
    /// repeat after a failure keeps the fence already running.</summary>
    private async Task FenceAsync(Volume v, Handle h, long fencedFor, CancellationToken cancellationToken)
    {
        if (h.Fence is null)
        {
            string? notChecked = null;
            if (!h.FilterAdded)
            {
                notChecked = "the holder's block node was not in the storage daemon when it was fenced";
            }
            else
            {
                try
                {
                    await _daemon.ExecuteAsync("block-dirty-bitmap-add", new JsonObject
                    {
                        ["node"] = h.FilterNode, ["name"] = FenceBitmap, ["granularity"] = DiskFenceAudit.SectorBytes,
                    }, cancellationToken).ConfigureAwait(false);
                }
                catch (QmpCommandException e)
                {
                    notChecked = $"the storage daemon refused the fence's dirty bitmap: {e.Description}";
                }
            }

            h.Fence = new FenceWatch(h.HostId, h.ExportGeneration, fencedFor, DateTimeOffset.UtcNow) { NotChecked = notChecked };
        }

        await RemoveExportAsync(h, hard: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Ends <paramref name="h"/>'s running fence, if any: its count read, its bitmap removed, the audit kept.</summary>
    private async Task EndFenceAsync(Volume v, Handle h, string end, CancellationToken cancellationToken)
    {
        if (h.Fence is not { } fence)
        {
            return;
        }

        var (bytes, notChecked) = await FenceCountAsync(h, null, cancellationToken).ConfigureAwait(false);
        if (bytes is not null)
        {
            await _daemon.ExecuteAsync("block-dirty-bitmap-remove", new JsonObject { ["node"] = h.FilterNode, ["name"] = FenceBitmap }, cancellationToken)
                .ConfigureAwait(false);
        }

        v.Audits.Add(fence.Audit(DateTimeOffset.UtcNow, end, bytes, notChecked));
        if (v.Audits.Count > AuditsKept)
        {
            v.Audits.RemoveRange(0, v.Audits.Count - AuditsKept);
        }

        h.Fence = null;
    }

    /// <summary>The bytes the fence's bitmap counts now, read from <paramref name="nodes"/> (the daemon's
    /// <c>query-named-block-nodes</c>; read here when null), or null with the reason.</summary>
    private async Task<(long? Bytes, string? NotChecked)> FenceCountAsync(Handle h, JsonArray? nodes, CancellationToken cancellationToken)
    {
        if (h.Fence!.NotChecked is { } reason)
        {
            return (null, reason);
        }

        nodes ??= await NodesAsync(cancellationToken).ConfigureAwait(false);
        var node = nodes.FirstOrDefault(n => n?["node-name"]?.GetValue<string>() == h.FilterNode);
        if (node is null)
        {
            return (null, "the holder's block node is gone from the storage daemon (it restarted after the fence)");
        }

        var bitmap = (node["dirty-bitmaps"] as JsonArray ?? []).FirstOrDefault(b => b?["name"]?.GetValue<string>() == FenceBitmap);
        return bitmap?["count"] is { } count
            ? (count.GetValue<long>(), null)
            : (null, "the fence's dirty bitmap is gone from the holder's block node (the storage daemon restarted after the fence)");
    }

    private async Task<JsonArray> NodesAsync(CancellationToken cancellationToken) =>
        await _daemon.ExecuteAsync("query-named-block-nodes", new JsonObject { ["flat"] = true }, cancellationToken).ConfigureAwait(false) as JsonArray ?? [];

    /// <summary>The holder's own block node (a throttle filter without limits over the disk's node), added once.</summary>
    private async Task EnsureFilterAsync(Volume v, Handle h, CancellationToken cancellationToken)
    {
        if (h.FilterAdded)
        {
            return;
        }

        if (!ReferenceEquals(_groupAddedTo, _daemon))
        {
            try
            {
                await _daemon.ExecuteAsync("object-add", new JsonObject { ["qom-type"] = "throttle-group", ["id"] = NoLimitGroup }, cancellationToken).ConfigureAwait(false);
            }
            catch (QmpCommandException e) when (e.Description.Contains("duplicate", StringComparison.OrdinalIgnoreCase))
            {
                // An attached daemon that kept running has it already.
            }

            _groupAddedTo = _daemon;
        }

        await _daemon.ExecuteAsync("blockdev-add", new JsonObject
        {
            ["driver"] = "throttle",
            ["node-name"] = h.FilterNode,
            ["file"] = v.Node,
            ["throttle-group"] = NoLimitGroup,
        }, cancellationToken).ConfigureAwait(false);
        h.FilterAdded = true;
    }

    /// <summary>Removes the holder's own block node (its export gone first).</summary>
    private async Task RemoveFilterAsync(Handle h)
    {
        if (h.FilterAdded)
        {
            await TryRemoveNodeAsync(h.FilterNode).ConfigureAwait(false);
            h.FilterAdded = false;
        }
    }

    /// <summary>A holder's node name (at most 31 characters): <c>omh-</c> and a hash of its export id.</summary>
    private static string FilterNodeName(string exportId) =>
        "omh-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(exportId)))[..27];

    /// <summary>A fence that runs: started on a holder, not yet closed or handed back.</summary>
    private sealed record FenceWatch(string HostId, long ExportGeneration, long FencedFor, DateTimeOffset FencedAt)
    {
        public string? NotChecked { get; set; }

        public DiskFenceAudit Audit(DateTimeOffset? endedAt, string? end, long? bytes, string? notChecked) =>
            new(HostId, ExportGeneration, FencedFor, FencedAt, endedAt, end, bytes, notChecked);
    }
}
