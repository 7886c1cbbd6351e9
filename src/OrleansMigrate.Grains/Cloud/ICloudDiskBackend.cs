namespace OrleansMigrate.Grains.Cloud;

/// <summary>
/// The distributed block store that holds cloud disks: the handles hosts hold on a disk and the disk's
/// fencing generation. The store refuses a read-write handle carrying a generation older than the disk's
/// current one, and granting a newer generation blocks the I/O of the writer it supersedes, so a stale
/// writer can never write again. Every action is idempotent: asking for what the store already holds
/// succeeds without change. Refusals are <see cref="Errors.OmigException"/> with code Conflict.
/// </summary>
public interface ICloudDiskBackend
{
    /// <summary>Whether granting a newer generation blocks the superseded writer's I/O (fencing). When true a
    /// switchover hands the disk over in one action (<see cref="ReopenReadWriteAsync"/> at the next generation);
    /// when false it pauses the writer first and promotes after (two).</summary>
    bool FencesOnGrant { get; }

    /// <summary>Provisions <paramref name="diskId"/> with a read-write handle on <paramref name="hostId"/> at
    /// generation 1.</summary>
    Task CreateAsync(string diskId, string hostId, CancellationToken cancellationToken = default);

    /// <summary>Closes every handle on <paramref name="diskId"/> and deletes it.</summary>
    Task DeleteAsync(string diskId, CancellationToken cancellationToken = default);

    /// <summary>Opens a read-only handle on <paramref name="hostId"/> (slow: metadata negotiation). No effect
    /// when the host already holds a handle.</summary>
    Task OpenReadOnlyAsync(string diskId, string hostId, CancellationToken cancellationToken = default);

    /// <summary>Blocks the I/O of <paramref name="hostId"/>'s read-write handle without closing it (light).
    /// Refused when the host holds no read-write handle.</summary>
    Task PauseAsync(string diskId, string hostId, CancellationToken cancellationToken = default);

    /// <summary>Reopens <paramref name="hostId"/>'s handle read-write at <paramref name="generation"/> (light when
    /// the host already holds a handle; a full open otherwise). Refused when <paramref name="generation"/> is
    /// older than the disk's, or equal to it while another host writes at it.</summary>
    Task ReopenReadWriteAsync(string diskId, string hostId, long generation, CancellationToken cancellationToken = default);

    /// <summary>Rollback: lets <paramref name="hostId"/> write again at <paramref name="generation"/>. Un-pauses
    /// its handle when that handle was granted at <paramref name="generation"/> and the disk is still there;
    /// when <paramref name="generation"/> is newer than the disk's, reopens the handle read-write at it,
    /// which fences off the host that was promoted meanwhile. Refused for an older generation.</summary>
    Task ResumeWriterAsync(string diskId, string hostId, long generation, CancellationToken cancellationToken = default);

    /// <summary>Closes <paramref name="hostId"/>'s handle (slow: metadata negotiation). No effect when it holds none.</summary>
    Task CloseAsync(string diskId, string hostId, CancellationToken cancellationToken = default);

    /// <summary>Whether a guest attaches its disks to this store over the network (<see cref="GuestAttachment"/>); false
    /// for a store a hypervisor does not attach to (the simulated one).</summary>
    bool AttachesGuests => false;

    /// <summary>Where <paramref name="hostId"/>'s hypervisor attaches <paramref name="diskId"/> through the handle the
    /// host holds; NotFound when it holds none. Only for a store that <see cref="AttachesGuests"/>.</summary>
    OrleansMigrate.Fleet.BlockDeviceAttachment GuestAttachment(string diskId, string hostId) =>
        throw new NotSupportedException("this block store is not attached to by guests");

    /// <summary>Every fence of <paramref name="diskId"/>'s holders this store measured, oldest first (the running ones
    /// counted so far); empty for a store that does not measure what a fenced holder wrote after its fence.</summary>
    Task<IReadOnlyList<OrleansMigrate.Fleet.DiskFenceAudit>> FenceAuditsAsync(string diskId, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<OrleansMigrate.Fleet.DiskFenceAudit>>([]);
}
