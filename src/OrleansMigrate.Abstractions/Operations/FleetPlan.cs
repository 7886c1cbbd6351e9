using System.Collections.Immutable;

namespace OrleansMigrate.Operations;

public enum FleetPlanState
{
    /// <summary>Computed; nothing moved yet.</summary>
    Planned = 0,
    Applying = 1,
    Completed = 2,

    /// <summary>Applied with moves that could not be made (each with its reason).</summary>
    Incomplete = 3,
}

public enum PlanMoveState
{
    Pending = 0,
    Migrating = 1,
    Done = 2,
    Failed = 3,
}

[GenerateSerializer, Immutable]
[Alias("omig.PlanMoveStatus")]
public sealed record PlanMoveStatus(
    [property: Id(0)] string VmId,
    [property: Id(1)] string FromHost,
    [property: Id(2)] string ToHost,
    [property: Id(3)] string Policy,
    [property: Id(4)] PlanMoveState State,
    [property: Id(5)] string? MigrationId = null,
    [property: Id(6)] string? Reason = null,
    [property: Id(7)] int Attempts = 0,
    [property: Id(8)] bool OwnerNotified = false);

/// <summary>A defragmentation or rebalancing plan and, once applied, the state of each of its moves.</summary>
/// <param name="Kind"><c>defrag</c> or <c>balance</c>.</param>
/// <param name="Goal">What it is for, in words (the shape and count, or the threshold).</param>
/// <param name="LowerBound">Defrag: no plan can do with fewer moves.</param>
/// <param name="Notes">Targets (defrag: hosts that will hold the shapes), hosts that cannot be fixed, and why.</param>
[GenerateSerializer, Immutable]
[Alias("omig.FleetPlanStatus")]
public sealed record FleetPlanStatus(
    [property: Id(0)] string PlanId,
    [property: Id(1)] string Kind,
    [property: Id(2)] string Goal,
    [property: Id(3)] FleetPlanState State,
    [property: Id(4)] bool Reached,
    [property: Id(5)] ImmutableArray<PlanMoveStatus> Moves,
    [property: Id(6)] int? LowerBound,
    [property: Id(7)] ImmutableArray<string> Notes,
    [property: Id(8)] double PlanSeconds,
    [property: Id(9)] DateTimeOffset CreatedAt,
    [property: Id(10)] DateTimeOffset? EndedAt)
{
    public bool IsEnded => State is FleetPlanState.Completed or FleetPlanState.Incomplete;
}

/// <summary>One defragmentation or rebalancing plan (key: plan id): computed from a snapshot of the fleet, stored, and
/// applied on request with bounded parallelism, in plan order.</summary>
[Alias("omig.IFleetPlanGrain")]
public interface IFleetPlanGrain : IGrainWithStringKey
{
    /// <summary>Plans the fewest migrations that make room for <paramref name="count"/> instances of the shape.</summary>
    [Alias("PlanDefrag")]
    Task<FleetPlanStatus> PlanDefragAsync(int vcpus, long memoryMiB, int count, ImmutableArray<string> requiredCpuFeatures);

    /// <summary>Plans the fewest migrations that bring every host to at most <paramref name="maxUtil"/> of its cores and
    /// memory; VMs moved by an earlier balance within <paramref name="coolDownMinutes"/> stay put.</summary>
    [Alias("PlanBalance")]
    Task<FleetPlanStatus> PlanBalanceAsync(double maxUtil, int coolDownMinutes);

    [Alias("Apply")]
    Task<FleetPlanStatus> ApplyAsync(int maxParallel);

    [Alias("Get")]
    Task<FleetPlanStatus?> GetAsync();

    [Alias("Drive")]
    Task<FleetPlanStatus?> DriveAsync();
}

/// <summary>When the balancer last moved each VM (one activation, key <see cref="Key"/>): its cool-down memory.</summary>
[Alias("omig.IBalancerMemoryGrain")]
public interface IBalancerMemoryGrain : IGrainWithStringKey
{
    const string Key = "balancer";

    [Alias("Moved")]
    Task MovedAsync(string vmId, DateTimeOffset at);

    [Alias("LastMoved")]
    Task<ImmutableDictionary<string, DateTimeOffset>> LastMovedAsync();
}
