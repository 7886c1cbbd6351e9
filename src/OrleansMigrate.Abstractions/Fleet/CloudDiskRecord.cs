using System.Collections.Immutable;

namespace OrleansMigrate.Fleet;

/// <summary>A cloud disk and who holds it.</summary>
/// <param name="Attachments">Host id → handle. At most one is <see cref="DiskAttachmentMode.ReadWrite"/>.</param>
/// <param name="FencingGeneration">Bumped at every read-write hand-over; starts at 1.</param>
[GenerateSerializer, Immutable]
[Alias("omig.CloudDiskRecord")]
public sealed record CloudDiskRecord(
    [property: Id(0)] string DiskId,
    [property: Id(1)] long SizeGiB,
    [property: Id(2)] string VmId,
    [property: Id(3)] ImmutableDictionary<string, DiskAttachment> Attachments,
    [property: Id(4)] long FencingGeneration)
{
    /// <summary>A host armed to take the disk over in a switchover (<see cref="ICloudDiskGrain.ArmTakeOverAsync"/>), or null.
    /// While set, the stored record may trail the block store by that one take-over (it is written after the answer,
    /// outside the downtime), so a rollback takes the disk back at a generation above any the take-over could have used.</summary>
    [Id(5)]
    public string? PendingWriter { get; init; }

    /// <summary>The host holding the disk read-write, or null.</summary>
    public string? WriterHost => Attachments.FirstOrDefault(a => a.Value.Mode == DiskAttachmentMode.ReadWrite).Key;
}
