using System.Collections.Immutable;
using Orleans.Concurrency;
using OrleansMigrate.Cluster;
using OrleansMigrate.Grains.Placement;

namespace OrleansMigrate.Grains.Cluster;

/// <summary>Reads membership and our silo metadata on whichever silo it activates; stateless.</summary>
[StatelessWorker]
public sealed class ClusterStatusGrain(IClusterMembershipService membership, SiloDirectory silos) : Grain, IClusterStatusGrain
{
    public Task<ImmutableArray<SiloInfo>> GetSilosAsync(bool includeDead)
    {
        var members = membership.CurrentSnapshot.Members.Values
            .Where(m => includeDead || m.Status != SiloStatus.Dead)
            .OrderBy(m => m.Name, StringComparer.Ordinal)
            .Select(m => new SiloInfo(m.Name, m.SiloAddress.ToParsableString(), m.Status.ToString(),
                [.. silos.Roles(m.SiloAddress)], [.. silos.Hosts(m.SiloAddress)]));
        return Task.FromResult(members.ToImmutableArray());
    }
}
