namespace OrleansMigrate.Fleet;

/// <summary>
/// One cloud disk on the distributed block store (key: disk id): who holds it, in which mode, and its
/// fencing generation. Enforces that at most one host holds it read-write at any instant; every
/// read-write hand-over bumps the generation so a stale writer is fenced off by the block store.
/// Hand-over operations are idempotent: each asks for a target mode and is a no-op when already there.
/// </summary>
[Alias("omig.ICloudDiskGrain")]
public interface ICloudDiskGrain : IGrainWithStringKey
{
    [Alias("Get")]
    Task<CloudDiskRecord?> GetAsync();

    /// <summary>Creates the disk for <paramref name="vmId"/>, attached read-write on <paramref name="hostId"/> at generation 1.</summary>
    [Alias("Create")]
    Task<CloudDiskRecord> CreateAsync(DiskSpec spec, string vmId, string hostId);

    /// <summary>Deletes the disk if <paramref name="vmId"/> owns it. Idempotent.</summary>
    [Alias("Delete")]
    Task DeleteAsync(string vmId);

    /// <summary>Opens the disk read-only on <paramref name="hostId"/> (slow on a distributed file
    /// system, so it is done before the switchover). No effect when that host already holds it.</summary>
    [Alias("OpenReadOnly")]
    Task<CloudDiskRecord> OpenReadOnlyAsync(string hostId);

    /// <summary>Blocks I/O of <paramref name="hostId"/>'s read-write handle without closing it (the light
    /// action that replaces a slow close inside the downtime).</summary>
    [Alias("Pause")]
    Task<CloudDiskRecord> PauseAsync(string hostId);

    /// <summary>Makes <paramref name="hostId"/> the read-write holder at a new fencing generation. Refused
    /// while another host holds the disk read-write; a paused or read-only holder elsewhere keeps its
    /// handle (I/O blocked) until closed.</summary>
    [Alias("PromoteReadWrite")]
    Task<CloudDiskRecord> PromoteReadWriteAsync(string hostId);

    /// <summary>The switchover's disk step: makes <paramref name="hostId"/> the read-write holder at a new fencing
    /// generation, taking the disk from the writer it supersedes. With a block store that fences (it blocks the
    /// superseded writer's I/O when it grants the newer generation) this is one store action; otherwise the writer
    /// is paused first and then the host promoted (two). Call only once the current writer's VM is paused: its
    /// I/O is blocked from here on. Idempotent: a host that writes already is answered at once.</summary>
    [Alias("TakeOver")]
    Task<CloudDiskRecord> TakeOverAsync(string hostId);

    /// <summary>Before the pause: records (stored) that <paramref name="hostId"/> may take the disk over, so that the
    /// take-over itself answers before its record is written — no storage write inside the downtime. Idempotent.</summary>
    [Alias("ArmTakeOver")]
    Task<CloudDiskRecord> ArmTakeOverAsync(string hostId);

    /// <summary>Rollback: makes <paramref name="hostId"/> the only read-write holder again (un-pausing it, or
    /// taking the disk back at a new generation from a holder that has not committed), and closes
    /// every other host's handle.</summary>
    [Alias("RestoreWriter")]
    Task<CloudDiskRecord> RestoreWriterAsync(string hostId);

    /// <summary>Closes <paramref name="hostId"/>'s handle (slow: metadata negotiation). Refused for the
    /// only read-write holder of a disk in use.</summary>
    [Alias("Close")]
    Task<CloudDiskRecord> CloseAsync(string hostId);

    /// <summary>Where <paramref name="hostId"/>'s hypervisor attaches the disk, for a block store a guest attaches to over
    /// the network (<c>nbd</c>): the export of that host's handle. A host that holds no handle yet (a migration's
    /// destination, before its hypervisor starts) gets a read-only one first, as <see cref="OpenReadOnlyAsync"/> gives.
    /// Null for a store guests do not attach to (<c>simulated</c>). NotFound for a disk that does not exist.</summary>
    [Alias("Attach")]
    Task<BlockDeviceAttachment?> AttachAsync(string hostId);

    /// <summary>What the block store measured about each fence of this disk's holders: the bytes a fenced holder wrote
    /// after its fence (<see cref="DiskFenceAudit"/>), oldest first. Empty for a store that does not measure it
    /// (<c>simulated</c>), and for a disk that does not exist.</summary>
    [Alias("FenceAudits")]
    Task<System.Collections.Immutable.ImmutableArray<DiskFenceAudit>> FenceAuditsAsync();
}
