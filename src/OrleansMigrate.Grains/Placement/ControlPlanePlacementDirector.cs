using Orleans.Runtime.Placement;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Grains.Placement;

/// <summary>
/// Places control-plane grains over the live control silos by a stable hash of the grain's id, so scheduler shards,
/// drains, campaigns, migrations and registry grains spread evenly over however many control silos run — whoever
/// calls first. (It used to prefer the calling silo: with three control silos, the one the first client call reached
/// ended up with every registry grain, the scheduler and nearly every migration, and one silo held nothing.) When the
/// control silos change, only new activations follow the new spread.
/// </summary>
public sealed class ControlPlanePlacementDirector(SiloDirectory silos) : IPlacementDirector
{
    public async Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var control = await silos.WithRoleAsync(context.GetCompatibleSilos(target), "control");
        if (control.Count == 0)
        {
            throw new OmigException(OmigErrorCode.Unavailable, null, "no live control silo: start a silo with --role control (or all)");
        }

        return Choose(control, target.GrainIdentity.ToString());
    }

    /// <summary>The control silo for a grain id: the same for the same silos in every process.</summary>
    public static SiloAddress Choose(IReadOnlyList<SiloAddress> control, string grainId)
    {
        ArgumentNullException.ThrowIfNull(control);
        if (control.Count == 1)
        {
            return control[0];
        }

        var ordered = control.OrderBy(s => s.ToParsableString(), StringComparer.Ordinal).ToList();
        return ordered[Naming.StableHash.Shard(grainId, ordered.Count)];
    }
}
