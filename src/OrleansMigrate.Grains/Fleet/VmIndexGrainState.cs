using System.Collections.Immutable;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// The one-row layout of a <see cref="VmIndexGrain"/> shard (state <c>vm-index</c>) that older versions wrote: the VM ids
/// of the whole shard. Ids are now stored in the shard's <see cref="IdBuckets"/> rows; the grain moves any ids found here
/// into them on activation and clears this. Keep the type name stable: stored rows still deserialize to it.
/// </summary>
[GenerateSerializer]
[Alias("omig.VmIndexGrainState")]
public sealed class VmIndexGrainState
{
    [Id(0)] public ImmutableSortedSet<string> VmIds { get; set; } = ImmutableSortedSet<string>.Empty;
}
