using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Grains.Planning;

/// <summary>A host the plan leaves above the threshold, with its utilisation after the plan and why.</summary>
/// <param name="CoreUtil">Used (VMs + reservations) over cores, 0–1+.</param>
/// <param name="MemoryUtil">Used over memory, 0–1+.</param>
[GenerateSerializer, Immutable]
[Alias("omig.HostShortfall")]
public sealed record HostShortfall(
    [property: Id(0)] string HostId,
    [property: Id(1)] double CoreUtil,
    [property: Id(2)] double MemoryUtil,
    [property: Id(3)] string Reason);

/// <summary>A rebalancing plan: migrations, in order, that bring hosts to at most <see cref="MaxUtil"/> of cores and memory.</summary>
/// <param name="HostsOver">Hosts above the threshold before the plan.</param>
/// <param name="Unresolved">Hosts still above it after the plan, each with the reason.</param>
[GenerateSerializer, Immutable]
[Alias("omig.BalancePlan")]
public sealed record BalancePlan(
    [property: Id(0)] string PlanId,
    [property: Id(1)] double MaxUtil,
    [property: Id(2)] int HostsOver,
    [property: Id(3)] ImmutableArray<PlannedMove> Moves,
    [property: Id(4)] ImmutableArray<HostShortfall> Unresolved)
{
    /// <summary>The last-moved map to hand to the next run once this plan's moves ran at <paramref name="at"/>.</summary>
    public ImmutableDictionary<string, DateTimeOffset> RecordMoves(IReadOnlyDictionary<string, DateTimeOffset> lastMoved, DateTimeOffset at) =>
        lastMoved.ToImmutableDictionary(StringComparer.Ordinal).SetItems(Moves.Select(m => KeyValuePair.Create(m.VmId, at)));
}

/// <summary>
/// Moves VMs off hosts above a utilisation threshold (on cores or memory; used = VMs + reservations) with few
/// moves: the most over-utilised host first (largest ratio), the VM that brings it under with one move if any
/// (the smallest such), else the largest (most of the remaining normalised excess), each to the allowed host
/// (<see cref="DestinationSelector.Refusal"/>) with the most memory headroom that stays at or under the threshold
/// after the move. Never moves a pinned VM (pass-through), a VM moved less than the cool-down ago, nor a VM twice
/// in one plan — so the next run does not move it back (no ping-pong between runs).
/// </summary>
public static class BalancePlanner
{
    /// <param name="maxUtil">Threshold, in (0, 1], applied to cores and to memory.</param>
    /// <param name="lastMoved">VM id → when it last moved (from earlier plans or any migration); absent: never.</param>
    /// <param name="coolDown">A VM moved less than this before <paramref name="now"/> stays.</param>
    public static BalancePlan Plan(
        FleetSnapshot fleet, double maxUtil, IReadOnlyDictionary<string, DateTimeOffset> lastMoved, TimeSpan coolDown, DateTimeOffset now,
        PolicyResolver? policies = null, string? planId = null)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        ArgumentNullException.ThrowIfNull(lastMoved);
        if (!(maxUtil > 0 && maxUtil <= 1))
        {
            throw OmigException.Invalid("max_util", $"must be in (0, 1], got {maxUtil}");
        }

        if (coolDown < TimeSpan.Zero)
        {
            throw OmigException.Invalid("cool_down", "must not be negative");
        }

        var state = new FleetState(fleet, policies ?? PlanRules.BuiltIn);
        var hosts = state.Hosts.Length;
        var limitCores = new long[hosts];
        var limitMemory = new long[hosts];
        for (var h = 0; h < hosts; h++)
        {
            limitCores[h] = Limit(state.Hosts[h].Spec.Cores, maxUtil);
            limitMemory[h] = Limit(state.Hosts[h].Spec.MemoryMiB, maxUtil);
        }

        long Excess(int h, bool cores) => cores
            ? state.Hosts[h].Spec.Cores - state.FreeVcpus[h] - limitCores[h]
            : state.Hosts[h].Spec.MemoryMiB - state.FreeMemory[h] - limitMemory[h];
        double Ratio(int h) => Math.Max(
            (double)(state.Hosts[h].Spec.Cores - state.FreeVcpus[h]) / state.Hosts[h].Spec.Cores,
            (double)(state.Hosts[h].Spec.MemoryMiB - state.FreeMemory[h]) / state.Hosts[h].Spec.MemoryMiB);
        bool Over(int h) => Excess(h, true) > 0 || Excess(h, false) > 0;

        // Destinations by memory headroom under the threshold, most first.
        var headroom = new long[hosts];
        var byHeadroom = new SortedSet<(long Headroom, int Host)>();
        void Index(int h)
        {
            if (!state.HostOk[h])
            {
                return;
            }

            byHeadroom.Remove((headroom[h], h));
            headroom[h] = -Excess(h, false);
            byHeadroom.Add((headroom[h], h));
        }

        for (var h = 0; h < hosts; h++)
        {
            Index(h);
        }

        var moved = new bool[state.Vms.Length];
        var cooling = new bool[state.Vms.Length];
        for (var v = 0; v < state.Vms.Length; v++)
        {
            cooling[v] = lastMoved.TryGetValue(state.Vms[v].VmId, out var at) && at + coolDown > now;
        }

        int Destination(int v)
        {
            foreach (var (room, d) in byHeadroom.Reverse())
            {
                if (room < state.VmMemory[v])
                {
                    break;
                }

                var coreRoom = -Excess(d, true);
                if (state.Allows(v, d, Math.Min(state.FreeVcpus[d], coreRoom), Math.Min(state.FreeMemory[d], room)))
                {
                    return d;
                }
            }

            return -1;
        }

        var queue = new PriorityQueue<int, (double, string)>(Comparer<(double Ratio, string Id)>.Create((a, b) =>
            a.Ratio != b.Ratio ? b.Ratio.CompareTo(a.Ratio) : string.CompareOrdinal(a.Id, b.Id)));
        var hostsOver = 0;
        for (var h = 0; h < hosts; h++)
        {
            if (Over(h))
            {
                hostsOver++;
                queue.Enqueue(h, (Ratio(h), state.Hosts[h].HostId));
            }
        }

        var moves = new List<PlannedMove>();
        var unresolved = new List<HostShortfall>();
        while (queue.TryDequeue(out var h, out _))
        {
            long ec = Excess(h, true), em = Excess(h, false);
            var pool = state.VmsOn[h].Where(v => !state.Pinned[v] && !moved[v] && !cooling[v]).ToList();
            var choice = -1;
            var to = -1;

            // One move that fixes the host: the smallest such VM that has somewhere to go.
            foreach (var v in pool.Where(v => state.PlacedVcpus[v] >= ec && state.PlacedMemory[v] >= em)
                         .OrderBy(v => state.PlacedMemory[v]).ThenBy(v => state.PlacedVcpus[v]).ThenBy(v => state.Vms[v].VmId, StringComparer.Ordinal))
            {
                if ((to = Destination(v)) >= 0)
                {
                    choice = v;
                    break;
                }
            }

            if (choice < 0)
            {
                double Score(int v) =>
                    (ec > 0 ? (double)Math.Min(state.PlacedVcpus[v], ec) / ec : 0) + (em > 0 ? (double)Math.Min(state.PlacedMemory[v], em) / em : 0);
                foreach (var v in pool.Where(v => Score(v) > 0)
                             .OrderByDescending(Score).ThenByDescending(v => state.PlacedMemory[v]).ThenBy(v => state.Vms[v].VmId, StringComparer.Ordinal))
                {
                    if ((to = Destination(v)) >= 0)
                    {
                        choice = v;
                        break;
                    }
                }
            }

            if (choice < 0)
            {
                var all = state.VmsOn[h];
                var why = all.Count == 0 ? "it runs no VM (its reservations alone exceed the threshold)"
                    : all.All(v => state.Pinned[v]) ? "every VM on it has pass-through devices"
                    : pool.Count == 0 ? $"every movable VM on it is in its cool-down ({coolDown}) or already moved by this plan"
                    : $"no allowed host stays at or under {maxUtil:0.##} with any of its {pool.Count} movable VM(s) (CPU features, versions, anti-affinity or room)";
                unresolved.Add(new HostShortfall(state.Hosts[h].HostId, CoreUtil(h), MemoryUtil(h), why));
                continue;
            }

            state.Move(choice, to);
            moved[choice] = true;
            moves.Add(state.ToMove(choice, h, to));
            Index(h);
            Index(to);
            if (Over(h))
            {
                queue.Enqueue(h, (Ratio(h), state.Hosts[h].HostId));
            }
        }

        double CoreUtil(int h) => (double)(state.Hosts[h].Spec.Cores - state.FreeVcpus[h]) / state.Hosts[h].Spec.Cores;
        double MemoryUtil(int h) => (double)(state.Hosts[h].Spec.MemoryMiB - state.FreeMemory[h]) / state.Hosts[h].Spec.MemoryMiB;

        return new BalancePlan(planId ?? "balance-" + Guid.NewGuid().ToString("N")[..12], maxUtil, hostsOver, [.. moves],
            [.. unresolved.OrderBy(u => u.HostId, StringComparer.Ordinal)]);
    }

    /// <summary>The most a host may use under <paramref name="maxUtil"/>: used ≤ maxUtil × capacity, in whole units.</summary>
    public static long Limit(long capacity, double maxUtil) => (long)Math.Floor(capacity * maxUtil + 1e-9);
}
