using System.Collections.Immutable;

namespace OrleansMigrate.Fleet;

/// <summary>The flows of one VPC.</summary>
/// <param name="Flows">IP → flow.</param>
/// <param name="Relays">Relay routes, at most one per IP.</param>
[GenerateSerializer, Immutable]
[Alias("omig.VpcFlowTable")]
public sealed record VpcFlowTable(
    [property: Id(0)] string VpcId,
    [property: Id(1)] ImmutableDictionary<string, FlowEntry> Flows,
    [property: Id(2)] ImmutableArray<RelayRoute> Relays);
