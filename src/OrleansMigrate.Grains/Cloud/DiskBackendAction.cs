namespace OrleansMigrate.Grains.Cloud;

/// <summary>The block-store action one hand-over step takes (see <see cref="ICloudDiskBackend"/>).</summary>
public enum DiskBackendAction
{
    /// <summary>The disk is already in the asked-for state: nothing to do.</summary>
    None = 0,
    OpenReadOnly = 1,
    Pause = 2,
    ReopenReadWrite = 3,
    ResumeWriter = 4,
    Close = 5,
}
