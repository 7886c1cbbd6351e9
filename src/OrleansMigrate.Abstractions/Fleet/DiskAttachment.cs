namespace OrleansMigrate.Fleet;

/// <summary>One host's handle on a cloud disk.</summary>
/// <param name="Generation">The disk's fencing generation when this handle was granted; the block store
/// refuses writes carrying an older generation than the disk's current one.</param>
[GenerateSerializer, Immutable]
[Alias("omig.DiskAttachment")]
public sealed record DiskAttachment(
    [property: Id(0)] DiskAttachmentMode Mode,
    [property: Id(1)] long Generation);
