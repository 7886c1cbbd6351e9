using Orleans.Runtime.Placement;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Placement;

/// <summary>Places control-plane grains on a random live control silo; prefers the local one when it is a control silo.</summary>
public sealed class ControlPlanePlacementDirector(SiloDirectory silos) : IPlacementDirector
{
    public async Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var control = await silos.WithRoleAsync(context.GetCompatibleSilos(target), "control");
        if (control.Count == 0)
        {
            throw new OmigException(OmigErrorCode.Unavailable, null, "no live control silo: start a silo with --role control (or all)");
        }

        return control.Contains(context.LocalSilo) ? context.LocalSilo : control[Random.Shared.Next(control.Count)];
    }
}
