using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Cloud;

/// <summary>
/// The rules of a cloud disk's hand-over between hosts, without Orleans: each function takes the disk
/// record and the host asking, and returns the block-store action to take and the record after it, or
/// refuses with an <see cref="OmigException"/> (code Conflict, field <c>disk</c>). Together they keep the
/// invariants: at most one read-write attachment at any instant, and every new writer at a new fencing
/// generation that its attachment carries. Asking for a state already held is <see cref="DiskBackendAction.None"/>.
/// </summary>
public static class DiskHandover
{
    /// <summary>Opens the disk read-only on <paramref name="hostId"/> at the current generation; no effect
    /// when the host holds it in any mode.</summary>
    public static DiskStep OpenReadOnly(CloudDiskRecord disk, string hostId) =>
        disk.Attachments.ContainsKey(hostId)
            ? DiskStep.None(disk, hostId)
            : new DiskStep(DiskBackendAction.OpenReadOnly, hostId, disk.FencingGeneration,
                disk with { Attachments = disk.Attachments.SetItem(hostId, new DiskAttachment(DiskAttachmentMode.ReadOnly, disk.FencingGeneration)) });

    /// <summary>Pauses the writer <paramref name="hostId"/>; refused for a host that does not write.</summary>
    public static DiskStep Pause(CloudDiskRecord disk, string hostId)
    {
        disk.Attachments.TryGetValue(hostId, out var handle);
        return handle switch
        {
            { Mode: DiskAttachmentMode.Paused } => DiskStep.None(disk, hostId),
            { Mode: DiskAttachmentMode.ReadWrite } => new DiskStep(DiskBackendAction.Pause, hostId, handle.Generation,
                disk with { Attachments = disk.Attachments.SetItem(hostId, handle with { Mode = DiskAttachmentMode.Paused }) }),
            _ => throw OmigException.Conflict("disk",
                $"host '{hostId}' {Holding(disk, hostId)}; only the read-write holder can be paused"),
        };
    }

    /// <summary>Makes <paramref name="hostId"/> the writer at the next generation; refused while another host writes.</summary>
    public static DiskStep PromoteReadWrite(CloudDiskRecord disk, string hostId)
    {
        var writer = disk.WriterHost;
        if (writer == hostId)
        {
            return DiskStep.None(disk, hostId);
        }

        if (writer is not null)
        {
            throw OmigException.Conflict("disk",
                $"disk '{disk.DiskId}' is held read-write by host '{writer}'; pause it before promoting host '{hostId}'");
        }

        var generation = disk.FencingGeneration + 1;
        return new DiskStep(DiskBackendAction.ReopenReadWrite, hostId, generation, disk with
        {
            Attachments = disk.Attachments.SetItem(hostId, new DiskAttachment(DiskAttachmentMode.ReadWrite, generation)),
            FencingGeneration = generation,
        });
    }

    /// <summary>
    /// The switchover's single step with a fencing store: makes <paramref name="hostId"/> the writer at the next
    /// generation; the writer it supersedes keeps its handle, paused, as the store's fencing blocks its I/O (its
    /// VM is paused for the switchover, so nothing is lost). With no writer it is <see cref="PromoteReadWrite"/>.
    /// A host that writes already is <see cref="DiskBackendAction.None"/>.
    /// </summary>
    public static DiskStep TakeOver(CloudDiskRecord disk, string hostId)
    {
        var writer = disk.WriterHost;
        if (writer is null || writer == hostId)
        {
            return PromoteReadWrite(disk, hostId);
        }

        var generation = disk.FencingGeneration + 1;
        return new DiskStep(DiskBackendAction.ReopenReadWrite, hostId, generation, disk with
        {
            Attachments = disk.Attachments
                .SetItem(writer, disk.Attachments[writer] with { Mode = DiskAttachmentMode.Paused })
                .SetItem(hostId, new DiskAttachment(DiskAttachmentMode.ReadWrite, generation)),
            FencingGeneration = generation,
        });
    }

    /// <summary>
    /// Rollback, first half: makes <paramref name="hostId"/> the writer again. A paused handle granted at the
    /// current generation is un-paused (no host was promoted since); otherwise the host reopens read-write at
    /// the next generation, and the writer it takes the disk from is paused, as the store's fencing does.
    /// The second half closes the other hosts' handles with <see cref="Close"/>.
    /// </summary>
    public static DiskStep RestoreWriter(CloudDiskRecord disk, string hostId)
    {
        if (disk.PendingWriter is { } pending && pending != hostId)
        {
            // A host was armed to take the disk over and the record may not show that it did (the take-over is written
            // after its answer): take the disk back at a generation above any it could hold, fencing it either way.
            var fenced = disk.FencingGeneration + 2;
            var held = disk.Attachments;
            foreach (var other in new[] { disk.WriterHost, pending })
            {
                if (other is not null && other != hostId && held.TryGetValue(other, out var h))
                {
                    held = held.SetItem(other, h with { Mode = DiskAttachmentMode.Paused });
                }
            }

            return new DiskStep(DiskBackendAction.ResumeWriter, hostId, fenced, disk with
            {
                Attachments = held.SetItem(hostId, new DiskAttachment(DiskAttachmentMode.ReadWrite, fenced)),
                FencingGeneration = fenced,
                PendingWriter = null,
            });
        }

        var writer = disk.WriterHost;
        if (writer == hostId)
        {
            return DiskStep.None(disk, hostId);
        }

        disk.Attachments.TryGetValue(hostId, out var handle);
        if (writer is null && handle is { Mode: DiskAttachmentMode.Paused } && handle.Generation == disk.FencingGeneration)
        {
            return new DiskStep(DiskBackendAction.ResumeWriter, hostId, handle.Generation,
                disk with { Attachments = disk.Attachments.SetItem(hostId, handle with { Mode = DiskAttachmentMode.ReadWrite }) });
        }

        var generation = disk.FencingGeneration + 1;
        var attachments = writer is null
            ? disk.Attachments
            : disk.Attachments.SetItem(writer, disk.Attachments[writer] with { Mode = DiskAttachmentMode.Paused });
        return new DiskStep(DiskBackendAction.ResumeWriter, hostId, generation, disk with
        {
            Attachments = attachments.SetItem(hostId, new DiskAttachment(DiskAttachmentMode.ReadWrite, generation)),
            FencingGeneration = generation,
        });
    }

    /// <summary>Closes <paramref name="hostId"/>'s handle; no effect when it holds none. Refused for the writer,
    /// and for a paused handle while no host writes (it is the only handle the VM can write through again).</summary>
    public static DiskStep Close(CloudDiskRecord disk, string hostId)
    {
        if (!disk.Attachments.TryGetValue(hostId, out var handle))
        {
            return DiskStep.None(disk, hostId);
        }

        if (handle.Mode == DiskAttachmentMode.ReadWrite)
        {
            throw OmigException.Conflict("disk",
                $"host '{hostId}' is the only read-write holder of disk '{disk.DiskId}' (used by VM '{disk.VmId}'); promote another host before closing it");
        }

        if (handle.Mode == DiskAttachmentMode.Paused && disk.WriterHost is null)
        {
            throw OmigException.Conflict("disk",
                $"host '{hostId}' holds the paused writer of disk '{disk.DiskId}' and no host writes; promote another host or restore this one before closing it");
        }

        return new DiskStep(DiskBackendAction.Close, hostId, handle.Generation,
            disk with { Attachments = disk.Attachments.Remove(hostId) });
    }

    private static string Holding(CloudDiskRecord disk, string hostId) =>
        disk.Attachments.TryGetValue(hostId, out var handle)
            ? $"holds disk '{disk.DiskId}' {handle.Mode switch { DiskAttachmentMode.ReadOnly => "read-only", DiskAttachmentMode.Paused => "paused", _ => handle.Mode.ToString() }}"
            : $"holds no handle on disk '{disk.DiskId}'";
}
