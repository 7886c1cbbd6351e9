using System.Collections.Immutable;

namespace OrleansMigrate.Grains.Planning;

/// <summary>Instances of the shape that fit on one host once the plan has run.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.ShapeSlots")]
public sealed record ShapeSlots(
    [property: Id(0)] string HostId,
    [property: Id(1)] int Count);

/// <summary>
/// A defragmentation plan: the migrations, in order, that make room for <see cref="Count"/> instances of
/// <see cref="Shape"/>, and where those instances fit afterwards.
/// </summary>
/// <param name="Reached">True when <see cref="Targets"/> hold at least <see cref="Count"/> instances.</param>
/// <param name="AlreadyFitting">Instances that fit before any move (on every host that may take the shape).</param>
/// <param name="Moves">Run in order; each is valid in the state the ones before it leave.</param>
/// <param name="Targets">Hosts and how many instances each holds after the moves (may sum to more than the count).</param>
/// <param name="LowerBound">No plan (under the rule that pinned VMs stay) makes room with fewer moves; null when no plan can.</param>
/// <param name="Reasons">Why the count is not reached (empty when it is).</param>
[GenerateSerializer, Immutable]
[Alias("omig.DefragPlan")]
public sealed record DefragPlan(
    [property: Id(0)] string PlanId,
    [property: Id(1)] InstanceShape Shape,
    [property: Id(2)] int Count,
    [property: Id(3)] bool Reached,
    [property: Id(4)] long AlreadyFitting,
    [property: Id(5)] ImmutableArray<PlannedMove> Moves,
    [property: Id(6)] ImmutableArray<ShapeSlots> Targets,
    [property: Id(7)] int? LowerBound,
    [property: Id(8)] ImmutableArray<string> Reasons);
