using Orleans.Placement;

namespace OrleansMigrate.Grains.Placement;

/// <summary>Places a grain on a silo with the <c>control</c> role, so fleet and migration state never lands on a hypervisor host.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.ControlPlanePlacementStrategy")]
public sealed class ControlPlanePlacementStrategy : PlacementStrategy
{
    internal static readonly ControlPlanePlacementStrategy Instance = new();
}

/// <summary>Marks a grain class as control-plane.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class ControlPlanePlacementAttribute : PlacementAttribute
{
    public ControlPlanePlacementAttribute()
        : base(ControlPlanePlacementStrategy.Instance)
    {
    }
}
