using System.Collections.Immutable;

namespace OrleansMigrate.Fleet;

/// <summary>Persisted index of <see cref="FleetGrain"/>: which hosts exist. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.FleetGrainState")]
public sealed class FleetGrainState
{
    [Id(0)] public ImmutableSortedSet<string> HostIds { get; set; } = ImmutableSortedSet<string>.Empty;

    /// <summary>
    /// Legacy: older versions kept every VM id here. VM ids now live in the <see cref="IVmIndexGrain"/>
    /// shards; <see cref="FleetGrain"/> moves any ids found here into them on activation and clears this.
    /// Kept (with its id) so stored rows still deserialize.
    /// </summary>
    [Id(1)] public ImmutableSortedSet<string> VmIds { get; set; } = ImmutableSortedSet<string>.Empty;
}
