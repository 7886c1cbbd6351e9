using System.Collections.Immutable;

namespace OrleansMigrate.Grains.Cloud;

/// <summary>What <see cref="SimulatedNetworkManagerBackend"/> holds for one VPC.</summary>
/// <param name="FlowHosts">IP → the host its flows were last installed on through the network manager.</param>
/// <param name="Relays">IP → its relay route.</param>
public sealed record NetworkManagerVpc(
    string VpcId,
    ImmutableDictionary<string, string> FlowHosts,
    ImmutableDictionary<string, NetworkManagerRelay> Relays);
