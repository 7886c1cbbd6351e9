using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Cloud;

/// <summary>One step of a cloud disk's hand-over, decided by <see cref="DiskHandover"/>: the block-store
/// action to take on <paramref name="HostId"/> and the disk record once it has succeeded.</summary>
/// <param name="Generation">The fencing generation the action carries (read-write opens and resumes).</param>
public sealed record DiskStep(DiskBackendAction Action, string HostId, long Generation, CloudDiskRecord After)
{
    public static DiskStep None(CloudDiskRecord disk, string hostId) => new(DiskBackendAction.None, hostId, disk.FencingGeneration, disk);
}
