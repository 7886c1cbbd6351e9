using System.Collections.Immutable;

namespace OrleansMigrate.Cluster;

/// <summary>Reads membership and silo metadata for <c>omig cluster status</c>.</summary>
[Alias("omig.IClusterStatusGrain")]
public interface IClusterStatusGrain : IGrainWithIntegerKey
{
    /// <param name="includeDead">Also list silos that membership has declared dead.</param>
    [Alias("GetSilos")]
    Task<ImmutableArray<SiloInfo>> GetSilosAsync(bool includeDead);
}
