using System.Diagnostics;
using OrleansMigrate.Grains.Planning;

namespace OrleansMigrate.Planning;

/// <summary>One defragmentation planning run on a synthetic fleet (the <c>defrag</c> part of the fleet benchmark).</summary>
/// <param name="PlanS">Wall-clock seconds of <see cref="DefragPlanner.Plan"/> alone (the fleet is generated before the clock starts).</param>
/// <param name="Moves">Migrations in the plan.</param>
/// <param name="LowerBound">No plan needs fewer moves (see <see cref="DefragPlanner"/>); null when the count cannot be reached.</param>
/// <param name="Count">Instances of <see cref="DefragBenchmark.Shape"/> asked for.</param>
/// <param name="AlreadyFitting">Instances that fit before any move.</param>
/// <param name="Reached">True when the plan makes room for all of them.</param>
public sealed record DefragBenchmarkResult(int Hosts, int Vms, double PlanS, int Moves, int? LowerBound, int Count, long AlreadyFitting, bool Reached);

/// <summary>Plans room for large instances on a seeded <see cref="SyntheticFleet"/> and times it.</summary>
public static class DefragBenchmark
{
    /// <summary>The shape asked for: the fleet's largest, 32 cores and 128 GiB, which fragmentation makes scarce.</summary>
    public static readonly InstanceShape Shape = new(32, 128 * 1024);

    /// <param name="count">Instances of <see cref="Shape"/> to make room for; default one per 10 hosts (500 on 5,000 hosts, about three times what fits before any move on the default fleet).</param>
    public static DefragBenchmarkResult Run(int hosts, int vms, int seed, int? count = null)
    {
        var fleet = SyntheticFleet.Generate(hosts, vms, seed);
        var k = count ?? Math.Max(1, hosts / 10);
        var clock = Stopwatch.StartNew();
        var plan = DefragPlanner.Plan(fleet, Shape, k);
        var seconds = clock.Elapsed.TotalSeconds;
        return new DefragBenchmarkResult(hosts, fleet.Vms.Count, Math.Round(seconds, 3), plan.Moves.Length, plan.LowerBound, k, plan.AlreadyFitting, plan.Reached);
    }
}
