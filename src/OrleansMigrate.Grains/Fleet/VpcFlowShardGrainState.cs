using System.Collections.Immutable;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>Persisted state of <see cref="VpcFlowShardGrain"/>: the flows of one shard of one VPC. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.VpcFlowShardGrainState")]
public sealed class VpcFlowShardGrainState
{
    [Id(0)] public ImmutableDictionary<string, FlowEntry> Flows { get; set; } = ImmutableDictionary<string, FlowEntry>.Empty;
}
