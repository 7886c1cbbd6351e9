using System.Collections.Immutable;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// One stored row of an <see cref="IdBuckets"/> set: the ids that hash to this bucket, in ordinal order. Keep the type
/// name and alias stable: stored rows depend on them.
/// </summary>
[GenerateSerializer]
[Alias("omig.IdBucketState")]
public sealed class IdBucketState
{
    [Id(0)] public ImmutableArray<string> Ids { get; set; } = [];
}
