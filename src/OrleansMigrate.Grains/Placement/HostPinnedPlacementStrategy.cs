using Orleans.Placement;

namespace OrleansMigrate.Grains.Placement;

/// <summary>Places a grain keyed by host id on the silo that serves that host, and nowhere else.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.HostPinnedPlacementStrategy")]
public sealed class HostPinnedPlacementStrategy : PlacementStrategy
{
    internal static readonly HostPinnedPlacementStrategy Instance = new();
}

/// <summary>Marks a grain class keyed by host id as host-pinned.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class HostPinnedPlacementAttribute : PlacementAttribute
{
    public HostPinnedPlacementAttribute()
        : base(HostPinnedPlacementStrategy.Instance)
    {
    }
}
