using System.Collections.Immutable;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Grains.Planning;

/// <summary>The fleet after a plan, and every rule the plan broke on the way (empty when none).</summary>
public sealed record PlanCheck(FleetSnapshot After, ImmutableArray<string> Violations)
{
    public bool Ok => Violations.IsEmpty;
}

/// <summary>
/// Replays a plan on a copy of the snapshot, move by move, on the registry's own record types: each move is checked
/// with <see cref="DestinationSelector.Refusal"/> in the state the moves before it left (capacity after reservations,
/// compatibility, version rule, anti-affinity, schedulable and healthy), plus: the VM is where the move says, it is
/// not pinned (pass-through), the move names the VM's policy, and the plan-specific outcome. Independent of the planners' fast working copy, so
/// tests and the integration can trust a plan they did not compute.
/// </summary>
public static class PlanVerifier
{
    /// <summary>Applies <paramref name="moves"/> in order; a move that breaks a rule is reported and still applied when its hosts exist.</summary>
    public static PlanCheck Apply(FleetSnapshot fleet, IEnumerable<PlannedMove> moves, PolicyResolver? policies = null) =>
        Replay(fleet, moves, policies ?? PlanRules.BuiltIn, null);

    /// <summary>Replays a defragmentation plan, then checks that its targets hold the instances it promises.</summary>
    public static PlanCheck VerifyDefrag(FleetSnapshot fleet, DefragPlan plan, PolicyResolver? policies = null)
    {
        var check = Replay(fleet, plan.Moves, policies ?? PlanRules.BuiltIn, null);
        var violations = check.Violations.ToBuilder();
        var hosts = check.After.Hosts.ToDictionary(h => h.HostId, StringComparer.Ordinal);
        long promised = 0;
        foreach (var target in plan.Targets)
        {
            promised += target.Count;
            if (!hosts.TryGetValue(target.HostId, out var host))
            {
                violations.Add($"target '{target.HostId}' is not a host");
                continue;
            }

            if (!PlanRules.CanHostShape(host, plan.Shape))
            {
                violations.Add($"target '{host.HostId}' may not take {plan.Shape} (scheduling, health or CPU features)");
            }
            else if (PlanRules.Fits(host.FreeVcpus, host.FreeMemoryMiB, plan.Shape) < target.Count)
            {
                violations.Add($"target '{host.HostId}' holds {PlanRules.Fits(host.FreeVcpus, host.FreeMemoryMiB, plan.Shape)} of the {target.Count} instances promised ({host.FreeVcpus} cores, {host.FreeMemoryMiB} MiB free)");
            }
        }

        if (plan.Reached && promised < plan.Count)
        {
            violations.Add($"the plan says it reached {plan.Count} instances but its targets hold {promised}");
        }

        if (plan.LowerBound is { } bound && plan.Reached && plan.Moves.Length < bound)
        {
            violations.Add($"{plan.Moves.Length} moves is below the lower bound {bound}: the bound is wrong");
        }

        return check with { Violations = violations.ToImmutable() };
    }

    /// <summary>
    /// Replays a rebalancing plan: also no VM in its cool-down moves, no VM moves twice, every destination is at or under
    /// the threshold after its move, and every host over the threshold after the plan is listed as unresolved.
    /// </summary>
    public static PlanCheck VerifyBalance(
        FleetSnapshot fleet, BalancePlan plan, IReadOnlyDictionary<string, DateTimeOffset> lastMoved, TimeSpan coolDown, DateTimeOffset now,
        PolicyResolver? policies = null)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var extra = new List<string>();
        var check = Replay(fleet, plan.Moves, policies ?? PlanRules.BuiltIn, (move, destination) =>
        {
            if (!seen.Add(move.VmId))
            {
                extra.Add($"VM '{move.VmId}' moves twice");
            }

            if (lastMoved.TryGetValue(move.VmId, out var at) && at + coolDown > now)
            {
                extra.Add($"VM '{move.VmId}' moved at {at:O} is in its cool-down until {at + coolDown:O}");
            }

            if (!UnderThreshold(destination, plan.MaxUtil))
            {
                extra.Add($"moving VM '{move.VmId}' puts '{destination.HostId}' over {plan.MaxUtil}");
            }
        });

        var unresolved = plan.Unresolved.Select(u => u.HostId).ToHashSet(StringComparer.Ordinal);
        foreach (var host in check.After.Hosts)
        {
            if (!UnderThreshold(host, plan.MaxUtil) && !unresolved.Contains(host.HostId))
            {
                extra.Add($"host '{host.HostId}' is still over {plan.MaxUtil} and not listed as unresolved");
            }
        }

        return check with { Violations = check.Violations.AddRange(extra) };
    }

    /// <summary>True when the host uses at most <paramref name="maxUtil"/> of its cores and of its memory.</summary>
    public static bool UnderThreshold(HostRecord host, double maxUtil) =>
        host.UsedVcpus <= BalancePlanner.Limit(host.Spec.Cores, maxUtil) && host.UsedMemoryMiB <= BalancePlanner.Limit(host.Spec.MemoryMiB, maxUtil);

    private static PlanCheck Replay(FleetSnapshot fleet, IEnumerable<PlannedMove> moves, PolicyResolver policies, Action<PlannedMove, HostRecord>? after)
    {
        var hosts = fleet.Hosts.ToDictionary(h => h.HostId, StringComparer.Ordinal);
        var vms = fleet.Vms.ToDictionary(v => v.VmId, StringComparer.Ordinal);
        var on = fleet.Vms.GroupBy(v => v.HostId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var violations = ImmutableArray.CreateBuilder<string>();
        var step = 0;
        foreach (var move in moves)
        {
            step++;
            var at = $"move {step} ({move.VmId}: {move.FromHost} → {move.ToHost})";
            if (!vms.TryGetValue(move.VmId, out var vm))
            {
                violations.Add($"{at}: no such VM");
                continue;
            }

            if (vm.HostId != move.FromHost)
            {
                violations.Add($"{at}: the VM is on '{vm.HostId}' at this point");
            }

            if (DestinationSelector.NotLiveMovable(vm.Spec, policies(vm)) is { } pinned)
            {
                violations.Add($"{at}: the VM is pinned and must not move: {pinned.Reason}");
            }

            if (!hosts.TryGetValue(vm.HostId, out var source) || !hosts.TryGetValue(move.ToHost, out var destination))
            {
                violations.Add($"{at}: source or destination host is not registered");
                continue;
            }

            var policy = policies(vm);
            if (move.Policy != policy.Name)
            {
                violations.Add($"{at}: planned under policy '{move.Policy}', the VM's is '{policy.Name}'");
            }

            var peers = on.TryGetValue(destination.HostId, out var list) ? list : [];
            if (DestinationSelector.Refusal(vm, source, destination, peers, policy) is { } why)
            {
                violations.Add($"{at}: {why}");
            }

            source = source with { Vms = source.Vms.Remove(vm.VmId) };
            destination = destination with { Vms = destination.Vms.SetItem(vm.VmId, OrleansMigrate.Fleet.Placement.Of(vm.Spec)) };
            hosts[source.HostId] = source;
            hosts[destination.HostId] = destination;
            if (on.TryGetValue(source.HostId, out var fromList))
            {
                fromList.RemoveAll(v => v.VmId == vm.VmId);
            }

            vm = vm with { HostId = destination.HostId };
            vms[vm.VmId] = vm;
            if (!on.TryGetValue(destination.HostId, out var toList))
            {
                on[destination.HostId] = toList = [];
            }

            toList.Add(vm);
            after?.Invoke(move, destination);
        }

        var after2 = new FleetSnapshot([.. fleet.Hosts.Select(h => hosts[h.HostId])], [.. fleet.Vms.Select(v => vms[v.VmId])]);
        return new PlanCheck(after2, violations.ToImmutable());
    }
}
