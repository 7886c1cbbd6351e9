using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Grains.Planning;

/// <summary>What <see cref="PowerPlanner.Plan"/> computes: the hosts to empty and power off, the moves that empty them,
/// and the most hosts any plan could free.</summary>
/// <param name="HostsToFree">In the order the plan freed them; each is empty after <see cref="Moves"/>.</param>
/// <param name="Moves">Run in order; each is valid in the state the ones before it leave, and stays inside its domain.</param>
/// <param name="Bound">Σ over domains of <see cref="PowerPlanner.DomainBound"/>: no plan frees more.</param>
/// <param name="Domains">Each domain's powered-on capacity and use once the plan's hosts are off.</param>
/// <param name="Reasons">Why hosts were not freed (domains under the headroom already, hosts that cannot be emptied).</param>
public sealed record PowerPlan(
    int HeadroomPercent,
    string DomainLabel,
    ImmutableArray<string> HostsToFree,
    ImmutableArray<PlannedMove> Moves,
    int Bound,
    ImmutableArray<PowerDomain> Domains,
    ImmutableArray<string> Reasons)
{
    public int HostsFreed => HostsToFree.Length;
}

/// <summary>
/// Consolidation for power saving. A host's failure domain is the value of its <c>DomainLabel</c> label (hosts without
/// it share the domain <c>-</c>). A domain's capacity is that of its hosts that take VMs (powered on, schedulable,
/// healthy: <see cref="DestinationSelector.TakesVms"/>); its use is what their VMs and reservations hold. The headroom
/// h % holds when at least h % of the domain's cores and h % of its memory are free: 100·used ≤ (100 − h)·capacity,
/// for cores and for memory. Moves stay inside their domain, so a domain's use does not change and only powering hosts
/// off shrinks its capacity. At least one host stays on in every domain that has one on.
/// <para>The plan, per domain: hosts that could be emptied (no reservation, no VM that never live-migrates, every VM
/// the host lists known) are tried least-loaded first (used memory, then cores, then id). A host is freed when the domain
/// keeps its headroom without it and every VM on it finds an allowed destination (<see cref="FleetState.Allows(int, int)"/>,
/// i.e. <see cref="DestinationSelector.Refusal"/>: CPU features, versions, room, anti-affinity) among the domain's hosts
/// that stay on — the fullest that fits (best fit, so the hosts after it in the order stay emptiable); otherwise its
/// tried moves are undone and the next host is tried. A host that received a VM is never freed (no VM moves twice).</para>
/// </summary>
public static class PowerPlanner
{
    /// <summary>The domain of hosts without the domain label.</summary>
    public const string NoDomain = "-";

    public const int MaxHeadroomPercent = 90;

    public static string DomainOf(HostRecord host, string domainLabel) =>
        host.Spec.Labels.TryGetValue(domainLabel, out var d) && d.Length > 0 ? d : NoDomain;

    /// <summary>Validates the headroom: 0–<see cref="MaxHeadroomPercent"/> % (above that almost nothing could be powered off,
    /// and 100 would divide by zero).</summary>
    public static void ValidateHeadroom(int headroomPercent)
    {
        if (headroomPercent is < 0 or > MaxHeadroomPercent)
        {
            throw OmigException.Invalid("headroom", $"must be between 0 and {MaxHeadroomPercent} percent, got {headroomPercent}");
        }
    }

    /// <summary>Each domain's counted capacity and use now (hosts that take VMs), and its hosts powered off.</summary>
    public static ImmutableArray<PowerDomain> Domains(IEnumerable<HostRecord> hosts, string domainLabel) =>
        [.. hosts.GroupBy(h => DomainOf(h, domainLabel), StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g =>
        {
            var on = g.Where(DestinationSelector.TakesVms).ToList();
            return new PowerDomain(g.Key, on.Count, g.Count(h => h.Power == HostPowerState.Off),
                on.Sum(h => (long)h.Spec.Cores), on.Sum(h => (long)h.UsedVcpus), on.Sum(h => h.Spec.MemoryMiB), on.Sum(h => h.UsedMemoryMiB));
        })];

    /// <summary>
    /// The most hosts any plan could power off in one domain: a plan that frees a set S of its emptiable hosts leaves
    /// capacity C − Σ_S cores, which must stay at least ⌈100·used/(100 − h)⌉ (used does not change: moves stay in the
    /// domain, and VMs that never live-migrate pin their hosts). So Σ_S cores ≤ slack<sub>cores</sub>, and the largest such
    /// S has at most as many hosts as the smallest-cored emptiable hosts whose cores fit in the slack (taking the smallest
    /// first maximises the count); likewise for memory. The bound is the smaller of the two counts. It ignores CPU
    /// features, versions, anti-affinity and packing, so it is an upper bound, not always reachable. The plan also keeps
    /// one host on per domain, so a domain's bound is at most its counted hosts less one.
    /// </summary>
    public static int DomainBound(IReadOnlyList<(long Cores, long MemoryMiB)> emptiable, long cores, long usedCores, long memoryMiB, long usedMemoryMiB, int headroomPercent)
    {
        var slackCores = cores - MinCapacity(usedCores, headroomPercent);
        var slackMemory = memoryMiB - MinCapacity(usedMemoryMiB, headroomPercent);
        return Math.Min(CountFitting(emptiable.Select(e => e.Cores), slackCores), CountFitting(emptiable.Select(e => e.MemoryMiB), slackMemory));
    }

    /// <summary>The least capacity that keeps <paramref name="used"/> within the headroom: ⌈100·used/(100 − h)⌉.</summary>
    public static long MinCapacity(long used, int headroomPercent) => ((100 * used) + (100 - headroomPercent) - 1) / (100 - headroomPercent);

    /// <param name="onlyDomain">Plan this failure domain alone (the others are left as they are); null: every domain.</param>
    public static PowerPlan Plan(FleetSnapshot fleet, int headroomPercent, string domainLabel, PolicyResolver? policies = null, string? onlyDomain = null)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        ValidateHeadroom(headroomPercent);
        if (string.IsNullOrWhiteSpace(domainLabel))
        {
            throw OmigException.Invalid("domain_label", "must name a host label");
        }

        var state = new FleetState(fleet, policies ?? PlanRules.BuiltIn);
        var h = state.Hosts.Length;
        var domainOf = new string[h];
        for (var i = 0; i < h; i++)
        {
            domainOf[i] = DomainOf(state.Hosts[i], domainLabel);
        }

        var freed = new bool[h];
        var received = new bool[h];
        var toFree = new List<string>();
        var moves = new List<PlannedMove>();
        var reasons = new List<string>();
        var domains = new List<PowerDomain>();
        var bound = 0;

        if (onlyDomain is not null && !domainOf.Contains(onlyDomain, StringComparer.Ordinal))
        {
            throw OmigException.NotFound("domain", $"no host is in failure domain '{onlyDomain}' (label '{domainLabel}')");
        }

        foreach (var group in Enumerable.Range(0, h).GroupBy(i => domainOf[i], StringComparer.Ordinal).Where(g => onlyDomain is null || g.Key == onlyDomain)
                     .OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var counted = group.Where(i => state.HostOk[i]).ToList();
            long cores = counted.Sum(i => (long)state.Hosts[i].Spec.Cores), memory = counted.Sum(i => state.Hosts[i].Spec.MemoryMiB);
            long usedCores = counted.Sum(i => state.Hosts[i].Spec.Cores - state.FreeVcpus[i]), usedMemory = counted.Sum(i => state.Hosts[i].Spec.MemoryMiB - state.FreeMemory[i]);
            var emptiable = counted.Where(i => Emptiable(state, i)).ToList();
            // At least one host stays on in every domain that has one on (a create there needs no power-on wait).
            var domainBound = Math.Min(Math.Max(0, counted.Count - 1), DomainBound([.. emptiable.Select(i => ((long)state.Hosts[i].Spec.Cores, state.Hosts[i].Spec.MemoryMiB))],
                cores, usedCores, memory, usedMemory, headroomPercent));
            bound += domainBound;
            long slackCores = cores - MinCapacity(usedCores, headroomPercent), slackMemory = memory - MinCapacity(usedMemory, headroomPercent);
            if (slackCores < 0 || slackMemory < 0)
            {
                reasons.Add($"domain '{group.Key}' is under the {headroomPercent} % headroom already ({Percent(cores - usedCores, cores)} % of cores, {Percent(memory - usedMemory, memory)} % of memory free): nothing is powered off there");
            }

            if (counted.Count - emptiable.Count is var stuck and > 0)
            {
                reasons.Add($"domain '{group.Key}': {stuck} host(s) cannot be emptied (reservations of migrations in flight, or VMs that are never live-migrated)");
            }

            long removedCores = 0, removedMemory = 0;
            var freedHere = 0;
            var failed = 0;
            foreach (var i in emptiable.OrderBy(i => state.Hosts[i].Spec.MemoryMiB - state.FreeMemory[i]).ThenBy(i => state.Hosts[i].Spec.Cores - state.FreeVcpus[i])
                         .ThenBy(i => state.Hosts[i].HostId, StringComparer.Ordinal))
            {
                if (freedHere >= domainBound)
                {
                    break;
                }

                var host = state.Hosts[i];
                if (received[i] || removedCores + host.Spec.Cores > slackCores || removedMemory + host.Spec.MemoryMiB > slackMemory)
                {
                    continue;
                }

                if (TryEmpty(state, i, counted, freed, received, moves))
                {
                    freed[i] = true;
                    freedHere++;
                    removedCores += host.Spec.Cores;
                    removedMemory += host.Spec.MemoryMiB;
                    toFree.Add(host.HostId);
                }
                else
                {
                    failed++;
                }
            }

            if (failed > 0)
            {
                reasons.Add($"domain '{group.Key}': {failed} host(s) tried could not be emptied (no allowed destination in the domain for one of their VMs: CPU features, versions, anti-affinity or room)");
            }

            domains.Add(new PowerDomain(group.Key, counted.Count - freedHere, group.Count(i => state.Hosts[i].Power == HostPowerState.Off) + freedHere,
                cores - removedCores, usedCores, memory - removedMemory, usedMemory, freedHere, domainBound));
        }

        return new PowerPlan(headroomPercent, domainLabel, [.. toFree], [.. moves], bound, [.. domains], [.. reasons]);
    }

    /// <summary>
    /// Checks a plan against the snapshot it was made from, independently of the planner: its moves replayed with
    /// <see cref="PlanVerifier.Apply"/> (every placement rule), each inside one domain and none onto a host the plan frees;
    /// every freed host empty afterwards and one that took VMs; every domain at or above the headroom without its freed
    /// hosts; and no more hosts freed than the bound. Empty when the plan keeps every rule.
    /// </summary>
    public static ImmutableArray<string> Verify(FleetSnapshot fleet, PowerPlan plan, PolicyResolver? policies = null)
    {
        var violations = ImmutableArray.CreateBuilder<string>();
        var before = fleet.Hosts.ToDictionary(x => x.HostId, StringComparer.Ordinal);
        var freeing = plan.HostsToFree.ToHashSet(StringComparer.Ordinal);
        foreach (var m in plan.Moves)
        {
            if (before.TryGetValue(m.FromHost, out var from) && before.TryGetValue(m.ToHost, out var to)
                && DomainOf(from, plan.DomainLabel) != DomainOf(to, plan.DomainLabel))
            {
                violations.Add($"VM '{m.VmId}' moves from domain '{DomainOf(from, plan.DomainLabel)}' to '{DomainOf(to, plan.DomainLabel)}'");
            }

            if (freeing.Contains(m.ToHost))
            {
                violations.Add($"VM '{m.VmId}' moves onto '{m.ToHost}', which the plan powers off");
            }
        }

        var check = PlanVerifier.Apply(fleet, plan.Moves, policies);
        violations.AddRange(check.Violations);
        var after = check.After.Hosts.ToDictionary(x => x.HostId, StringComparer.Ordinal);
        foreach (var id in plan.HostsToFree)
        {
            if (!after.TryGetValue(id, out var host))
            {
                violations.Add($"freed host '{id}' is not a host");
            }
            else if (!DestinationSelector.TakesVms(before[id]))
            {
                violations.Add($"freed host '{id}' did not take VMs (off, cordoned or unhealthy)");
            }
            else if (host.Vms.Count > 0 || host.Reservations.Count > 0 || check.After.Vms.Any(v => v.HostId == id))
            {
                violations.Add($"freed host '{id}' still holds VMs or reservations after the moves");
            }
        }

        var remaining = check.After.Hosts.Where(x => !freeing.Contains(x.HostId));
        foreach (var d in Domains(remaining, plan.DomainLabel))
        {
            var wasKept = Domains(fleet.Hosts.Where(x => DomainOf(x, plan.DomainLabel) == d.Domain), plan.DomainLabel).Single().Keeps(plan.HeadroomPercent);
            if (wasKept && !d.Keeps(plan.HeadroomPercent))
            {
                violations.Add($"domain '{d.Domain}' is left with {d.FreeCoresPercent:0.#} % of cores and {d.FreeMemoryPercent:0.#} % of memory free, under the {plan.HeadroomPercent} % headroom");
            }
        }

        if (plan.HostsFreed > plan.Bound)
        {
            violations.Add($"{plan.HostsFreed} hosts freed is above the bound {plan.Bound}: the bound is wrong");
        }

        return violations.ToImmutable();
    }

    /// <summary>No reservation, every VM the host lists known to the snapshot, none that never live-migrates.</summary>
    private static bool Emptiable(FleetState state, int i) =>
        state.Hosts[i].Reservations.IsEmpty && state.Hosts[i].Vms.Count == state.VmsOn[i].Count && state.VmsOn[i].All(v => !state.Pinned[v]);

    /// <summary>Moves every VM of host <paramref name="i"/> to the fullest allowed host of its domain that stays on; undoes
    /// them all and returns false when one has nowhere to go.</summary>
    private static bool TryEmpty(FleetState state, int i, List<int> domainHosts, bool[] freed, bool[] received, List<PlannedMove> moves)
    {
        var undo = new List<(FleetState.Undo Undo, int To)>();
        foreach (var v in state.VmsOn[i].OrderByDescending(v => state.VmMemory[v]).ThenByDescending(v => state.VmVcpus[v]).ToList())
        {
            var best = -1;
            foreach (var d in domainHosts)
            {
                if (d == i || freed[d] || !state.Allows(v, d))
                {
                    continue;
                }

                if (best < 0 || state.FreeMemory[d] < state.FreeMemory[best] || (state.FreeMemory[d] == state.FreeMemory[best] && state.FreeVcpus[d] < state.FreeVcpus[best]))
                {
                    best = d;
                }
            }

            if (best < 0)
            {
                for (var u = undo.Count - 1; u >= 0; u--)
                {
                    state.Revert(undo[u].Undo);
                }

                return false;
            }

            undo.Add((state.Move(v, best), best));
        }

        foreach (var (u, to) in undo)
        {
            received[to] = true;
            moves.Add(state.ToMove(u.Vm, i, to));
        }

        return true;
    }

    private static int CountFitting(IEnumerable<long> sizes, long slack)
    {
        var count = 0;
        foreach (var size in sizes.Order())
        {
            if (size > slack)
            {
                break;
            }

            slack -= size;
            count++;
        }

        return count;
    }

    private static string Percent(long free, long total) => total == 0 ? "100" : (100.0 * free / total).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);
}
