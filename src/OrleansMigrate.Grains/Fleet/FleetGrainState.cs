using System.Collections.Immutable;

namespace OrleansMigrate.Fleet;

/// <summary>Persisted index of <see cref="FleetGrain"/>: which hosts and VMs exist. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.FleetGrainState")]
public sealed class FleetGrainState
{
    [Id(0)] public ImmutableSortedSet<string> HostIds { get; set; } = ImmutableSortedSet<string>.Empty;

    [Id(1)] public ImmutableSortedSet<string> VmIds { get; set; } = ImmutableSortedSet<string>.Empty;
}
