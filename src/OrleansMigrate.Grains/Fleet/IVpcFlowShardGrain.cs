using System.Collections.Immutable;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// One shard of one VPC's flows (key <c>{vpc}/{shard}</c>, see <see cref="VpcFlowShards"/>): the storage page of
/// <see cref="VpcFlowTableGrain"/>, so a flow change writes ~1/<see cref="VpcFlowShards.Count"/> of the VPC's flows
/// instead of all of them. Only the table grain calls it (the interface is internal): the table decides — ownership,
/// idempotency, the network manager — and keeps every loaded shard in memory; a shard only stores.
/// </summary>
[Alias("omig.IVpcFlowShardGrain")]
internal interface IVpcFlowShardGrain : IGrainWithStringKey
{
    /// <summary>The flows of this shard, IP → flow.</summary>
    [Alias("Get")]
    Task<ImmutableDictionary<string, FlowEntry>> GetAsync();

    /// <summary>Stores <paramref name="flows"/>, replacing the flows of the same IPs. Writes nothing when nothing changes.</summary>
    [Alias("SetMany")]
    Task SetManyAsync(ImmutableArray<FlowEntry> flows);

    /// <summary>Removes the flow of <paramref name="ip"/>. Writes nothing when there is none.</summary>
    [Alias("Remove")]
    Task RemoveAsync(string ip);
}
