using System.Collections.Immutable;

namespace OrleansMigrate.Fleet;

/// <summary>Persisted state of <see cref="VmIndexGrain"/>: the VM ids of one shard. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.VmIndexGrainState")]
public sealed class VmIndexGrainState
{
    [Id(0)] public ImmutableSortedSet<string> VmIds { get; set; } = ImmutableSortedSet<string>.Empty;
}
