using System.Collections.Immutable;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// The one-row layout of <see cref="FleetGrain"/>'s index (state <c>fleet</c>) that older versions wrote. Host ids now
/// live in the grain's <see cref="IdBuckets"/> rows and VM ids in the <see cref="IVmIndexGrain"/> shards; the grain moves
/// anything found here into them on activation and clears this. Keep the type name stable: stored rows still
/// deserialize to it.
/// </summary>
[GenerateSerializer]
[Alias("omig.FleetGrainState")]
public sealed class FleetGrainState
{
    /// <summary>Legacy: every host id, written whole on each host add. Kept (with its id) so stored rows still deserialize.</summary>
    [Id(0)] public ImmutableSortedSet<string> HostIds { get; set; } = ImmutableSortedSet<string>.Empty;

    /// <summary>Legacy: every VM id, from before the VM index shards. Kept (with its id) so stored rows still deserialize.</summary>
    [Id(1)] public ImmutableSortedSet<string> VmIds { get; set; } = ImmutableSortedSet<string>.Empty;
}
