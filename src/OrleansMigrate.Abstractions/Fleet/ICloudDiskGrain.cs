namespace OrleansMigrate.Fleet;

/// <summary>One cloud disk on the distributed block store (key: disk id): who holds it, in which mode,
/// and its fencing generation. Enforces that at most one host holds it read-write.</summary>
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
}
