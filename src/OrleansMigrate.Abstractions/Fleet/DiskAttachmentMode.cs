namespace OrleansMigrate.Fleet;

/// <summary>How a host holds a cloud disk. At most one host may hold it <see cref="ReadWrite"/>.</summary>
public enum DiskAttachmentMode
{
    None = 0,
    ReadOnly = 1,
    ReadWrite = 2,
    /// <summary>Open, I/O blocked: the light action that replaces a slow close at switchover.</summary>
    Paused = 3,
}
