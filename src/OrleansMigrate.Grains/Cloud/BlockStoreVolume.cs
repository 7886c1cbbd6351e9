using System.Collections.Immutable;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Cloud;

/// <summary>What <see cref="SimulatedCloudDiskBackend"/> holds for one disk: its fencing generation and every
/// host's handle (mode, and the generation it was granted at).</summary>
public sealed record BlockStoreVolume(
    string DiskId,
    long Generation,
    ImmutableDictionary<string, DiskAttachment> Handles);
