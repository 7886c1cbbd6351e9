using System.Collections.Immutable;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>Persisted state of <see cref="VpcFlowTableGrain"/>: its relays (the flows live in <see cref="IVpcFlowShardGrain"/>s). Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.VpcFlowTableGrainState")]
public sealed class VpcFlowTableGrainState
{
    /// <summary>Flows as stored by versions before the flow shards; moved into the <see cref="IVpcFlowShardGrain"/>s
    /// and cleared on activation, so empty once the grain is active.</summary>
    [Id(0)] public ImmutableDictionary<string, FlowEntry> Flows { get; set; } = ImmutableDictionary<string, FlowEntry>.Empty;

    [Id(1)] public ImmutableArray<RelayRoute> Relays { get; set; } = [];
}
