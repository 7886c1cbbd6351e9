using System.Collections.Immutable;

namespace OrleansMigrate.Fleet;

/// <summary>Persisted state of <see cref="VpcFlowTableGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.VpcFlowTableGrainState")]
public sealed class VpcFlowTableGrainState
{
    [Id(0)] public ImmutableDictionary<string, FlowEntry> Flows { get; set; } = ImmutableDictionary<string, FlowEntry>.Empty;

    [Id(1)] public ImmutableArray<RelayRoute> Relays { get; set; } = [];
}
