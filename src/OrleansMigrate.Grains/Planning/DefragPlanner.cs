using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Grains.Planning;

/// <summary>
/// Plans the fewest migrations (heuristically) that make room for K instances of a shape, under the placement
/// rules of <see cref="DestinationSelector.Refusal"/> (schedulable and healthy destination, CPU features,
/// versions not older unless the VM's policy allows, free capacity after reservations, anti-affinity); VMs with
/// pass-through devices or of class <c>passthrough</c> never move.
/// <para>
/// <b>Heuristic.</b> The instances that fit already are kept (reserved). For every host that may take the shape,
/// the cost of j more instances is the eviction set a greedy picks (one VM that covers the whole cores and memory
/// deficit if any — the smallest such — else the VM covering most of the remaining normalised deficit, repeated).
/// A small dynamic programme over hosts picks the allocation of the missing instances with the fewest evictions
/// (then the least memory moved). The chosen hosts' room is reserved at once, then their evictees are re-placed,
/// largest first, best-fit on memory onto any other host with room left beyond its reservations (hosts indexed by
/// that free memory), each move checked in the state the moves before it leave. A VM that cannot be re-placed
/// undoes its host's evictions, is not picked again, and the programme runs again for what is missing.
/// </para>
/// <para>
/// <b>Lower bound.</b> Let F be the instances that fit now and N = K − F. A host h that holds f<sub>h</sub> now and
/// f<sub>h</sub> + j at the end must have moved (at least once) some of its own VMs whose placements sum to at least
/// the deficit on each resource ((f<sub>h</sub> + j)·shape − free<sub>h</sub>): nothing else frees room on h, VMs
/// moved in only take it, reservations stay. The fewest movable VMs that can cover a deficit on one resource is the
/// prefix count of its VMs sorted largest-first on that resource; the larger of the two counts is
/// LB<sub>h</sub>(j). Each VM starts on one host and each of them that moves costs at least one move, and the hosts
/// that gain instances must gain N in total (the others keep at most f<sub>h</sub>), so moves ≥ min over allocations
/// (Σ j<sub>h</sub> ≥ N) of Σ LB<sub>h</sub>(j<sub>h</sub>) — the same dynamic programme. It ignores where evicted VMs
/// go, so it is loose when room is scarce. Null when even evicting every movable VM cannot reach N.
/// </para>
/// <para>Cost: building the working copy is linear in hosts + VMs; the programme is hosts × N × (instances per
/// host); each re-placement walks the free-memory index from the VM's size up. Suited to large shapes and K up
/// to a few thousand.</para>
/// </summary>
public static class DefragPlanner
{
    private const long Infinite = long.MaxValue;
    private const int MaxRounds = 1000;

    /// <summary>Hosts × missing instances the programme may span (its back-pointers take 8 bytes a cell).</summary>
    private const long MaxProgrammeCells = 16_000_000;

    /// <param name="count">K, the instances to make room for, at least 1.</param>
    /// <param name="policies">Each VM's policy (for the version rule); default: by instance class over the built-in policies.</param>
    public static DefragPlan Plan(FleetSnapshot fleet, InstanceShape shape, int count, PolicyResolver? policies = null, string? planId = null)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Vcpus < 1 || shape.MemoryMiB < 1)
        {
            throw OmigException.Invalid("shape", $"needs at least 1 core and 1 MiB, got {shape}");
        }

        if (count < 1)
        {
            throw OmigException.Invalid("count", $"must be at least 1, got {count}");
        }

        var state = new FleetState(fleet, policies ?? PlanRules.BuiltIn);
        return new Run(state, shape, count).Plan(planId ?? "defrag-" + Guid.NewGuid().ToString("N")[..12]);
    }

    /// <summary>
    /// The fewest-cost allocation of <paramref name="need"/> units over items, item i giving j units for
    /// <c>costs[i][j-1]</c> (each item used once, any j). Returns the most units reachable (≤ need), its cost, and per
    /// item the units taken.
    /// </summary>
    internal static (int Reached, long Cost, List<(int Item, int Units)> Picks) MinCost(IReadOnlyList<long[]> costs, int need)
    {
        if ((long)costs.Count * (need + 1) > MaxProgrammeCells)
        {
            throw OmigException.Invalid("count", $"room for {need} more instances over {costs.Count} hosts is too much to plan at once; ask for at most {MaxProgrammeCells / Math.Max(1, costs.Count)} more than fit now, and plan again after");
        }

        var dp = new long[need + 1];
        Array.Fill(dp, Infinite);
        dp[0] = 0;
        var back = new long[costs.Count][];
        for (var i = 0; i < costs.Count; i++)
        {
            var c = costs[i];
            var next = (long[])dp.Clone();
            var b = back[i] = new long[need + 1];
            for (var n = 0; n <= need; n++)
            {
                if (dp[n] == Infinite)
                {
                    continue;
                }

                for (var j = 1; j <= c.Length; j++)
                {
                    if (c[j - 1] == Infinite)
                    {
                        break;
                    }

                    var m = Math.Min(need, n + j);
                    var total = dp[n] + c[j - 1];
                    if (total < next[m])
                    {
                        next[m] = total;
                        b[m] = ((long)j << 32) | (uint)n;
                    }
                }
            }

            dp = next;
        }

        var reached = need;
        while (reached > 0 && dp[reached] == Infinite)
        {
            reached--;
        }

        var picks = new List<(int, int)>();
        var at = reached;
        for (var i = costs.Count - 1; i >= 0 && at > 0; i--)
        {
            var b = back[i][at];
            if (b == 0)
            {
                continue;
            }

            picks.Add((i, (int)(b >> 32)));
            at = (int)(b & 0xFFFF_FFFF);
        }

        return (reached, dp[reached], picks);
    }

    private sealed class Run(FleetState state, InstanceShape shape, int count)
    {
        private readonly int sc = shape.Vcpus;
        private readonly long sm = shape.MemoryMiB;
        private readonly int[] reserved = new int[state.Hosts.Length];
        private readonly bool[] moved = new bool[state.Vms.Length];
        private readonly bool[] stuck = new bool[state.Vms.Length];
        private readonly long[] key = new long[state.Hosts.Length];
        private readonly SortedSet<(long Free, int Host)> byFreeMemory = [];
        private readonly List<PlannedMove> moves = [];
        private readonly List<string> reasons = [];

        public DefragPlan Plan(string planId)
        {
            var candidates = new List<int>();
            long fitting = 0;
            for (var h = 0; h < state.Hosts.Length; h++)
            {
                var host = state.Hosts[h];
                if (PlanRules.CanHostShape(host, shape) && host.Spec.Cores >= sc && host.Spec.MemoryMiB >= sm)
                {
                    candidates.Add(h);
                    fitting += PlanRules.Fits(state.FreeVcpus[h], state.FreeMemory[h], shape);
                }
            }

            if (candidates.Count == 0)
            {
                reasons.Add($"no host may take {shape}: none is schedulable, healthy, has the CPU features and is that large");
                return Result(planId, fitting, null);
            }

            if (fitting >= count)
            {
                var left = count;
                foreach (var h in candidates.OrderByDescending(h => PlanRules.Fits(state.FreeVcpus[h], state.FreeMemory[h], shape)).ThenBy(h => state.Hosts[h].HostId, StringComparer.Ordinal))
                {
                    var take = (int)Math.Min(left, PlanRules.Fits(state.FreeVcpus[h], state.FreeMemory[h], shape));
                    reserved[h] = take;
                    left -= take;
                    if (left == 0)
                    {
                        break;
                    }
                }

                return Result(planId, fitting, 0);
            }

            var need = count - (int)fitting;
            foreach (var h in candidates)
            {
                reserved[h] = (int)PlanRules.Fits(state.FreeVcpus[h], state.FreeMemory[h], shape);
            }

            var lowerBound = LowerBound(candidates, need);
            if (lowerBound is null)
            {
                reasons.Add($"even moving every movable VM off every host that may take {shape} makes room for fewer than {count} (room now for {fitting})");
            }

            for (var h = 0; h < state.Hosts.Length; h++)
            {
                if (state.HostOk[h])
                {
                    key[h] = EffectiveMemory(h);
                    byFreeMemory.Add((key[h], h));
                }
            }

            var costCache = new Dictionary<int, Option[]>();
            var rounds = 0;
            while (need > 0 && rounds++ < MaxRounds)
            {
                var items = new List<int>();
                var costs = new List<long[]>();
                var options = new List<Option[]>();
                foreach (var h in candidates)
                {
                    if (!costCache.TryGetValue(h, out var opts))
                    {
                        opts = Options(h, need);
                        costCache[h] = opts;
                    }

                    var usable = opts.Length > need ? opts[..need] : opts;
                    if (usable.Length > 0)
                    {
                        items.Add(h);
                        costs.Add([.. usable.Select(o => ((long)o.Vms.Length << 40) + o.Memory)]);
                        options.Add(usable);
                    }
                }

                var (reached, _, picks) = MinCost(costs, need);
                if (reached == 0)
                {
                    break;
                }

                var chosen = picks.Select(p => (Host: items[p.Item], Slots: p.Units, Option: options[p.Item][p.Units - 1])).ToList();
                foreach (var c in chosen)
                {
                    Reserve(c.Host, c.Slots);
                }

                var failed = false;
                foreach (var c in chosen)
                {
                    costCache.Remove(c.Host);
                    if (Evict(c.Host, c.Option.Vms, costCache))
                    {
                        need -= c.Slots;
                    }
                    else
                    {
                        Reserve(c.Host, -c.Slots);
                        failed = true;
                    }
                }

                if (!failed && reached < need)
                {
                    break;
                }
            }

            if (need > 0)
            {
                var stuckCount = stuck.Count(s => s);
                reasons.Add($"room for {count - need} of {count} instances of {shape}"
                    + (stuckCount > 0 ? $"; {stuckCount} VM(s) that would have to move found no other host (CPU features, versions, anti-affinity or room)" : "")
                    + (rounds > MaxRounds ? $"; stopped after {MaxRounds} planning rounds" : ""));
            }

            return Result(planId, fitting, lowerBound);
        }

        private DefragPlan Result(string planId, long fitting, int? lowerBound)
        {
            var targets = Enumerable.Range(0, reserved.Length).Where(h => reserved[h] > 0)
                .Select(h => new ShapeSlots(state.Hosts[h].HostId, reserved[h]))
                .OrderBy(t => t.HostId, StringComparer.Ordinal)
                .ToImmutableArray();
            var reached = targets.Sum(t => (long)t.Count) >= count;
            return new DefragPlan(planId, shape, count, reached, fitting, [.. moves], targets, lowerBound, reached ? [] : [.. reasons]);
        }

        /// <summary>The lower bound of the class comment, over the snapshot before any move.</summary>
        private int? LowerBound(List<int> candidates, int need)
        {
            var costs = new List<long[]>();
            foreach (var h in candidates)
            {
                var movable = state.VmsOn[h].Where(v => !state.Pinned[v]).ToArray();
                var cores = movable.Select(v => (long)state.PlacedVcpus[v]).OrderDescending().ToArray();
                var memory = movable.Select(v => state.PlacedMemory[v]).OrderDescending().ToArray();
                var most = PlanRules.Fits(state.FreeVcpus[h] + cores.Sum(), state.FreeMemory[h] + memory.Sum(), shape) - reserved[h];
                var j = (int)Math.Min(need, most);
                if (j <= 0)
                {
                    continue;
                }

                var c = new long[j];
                for (var k = 1; k <= j; k++)
                {
                    var t = reserved[h] + k;
                    c[k - 1] = Math.Max(PrefixCount(cores, t * sc - state.FreeVcpus[h]), PrefixCount(memory, t * sm - state.FreeMemory[h]));
                }

                costs.Add(c);
            }

            var (reached, cost, _) = MinCost(costs, need);
            return reached < need ? null : (int)cost;
        }

        private static int PrefixCount(long[] descending, long deficit)
        {
            var n = 0;
            for (; deficit > 0 && n < descending.Length; n++)
            {
                deficit -= descending[n];
            }

            return n;
        }

        /// <summary>For j = 1, 2, … more instances on host h: the greedy eviction set (empty array once impossible).</summary>
        private Option[] Options(int h, int need)
        {
            var pool = state.VmsOn[h].Where(v => !state.Pinned[v] && !stuck[v] && !moved[v]).ToList();
            var most = PlanRules.Fits(state.FreeVcpus[h] + pool.Sum(v => (long)state.PlacedVcpus[v]), state.FreeMemory[h] + pool.Sum(v => state.PlacedMemory[v]), shape)
                - reserved[h];
            var j = (int)Math.Min(need, most);
            if (j <= 0)
            {
                return [];
            }

            var result = new Option[j];
            for (var k = 1; k <= j; k++)
            {
                var t = reserved[h] + k;
                result[k - 1] = Greedy(pool, t * sc - state.FreeVcpus[h], t * sm - state.FreeMemory[h]);
            }

            return result;
        }

        private Option Greedy(List<int> pool, long dc, long dm)
        {
            var left = new List<int>(pool);
            var picked = new List<int>();
            long memory = 0;
            while (dc > 0 || dm > 0)
            {
                var cover = -1;
                var best = -1;
                var bestScore = 0.0;
                foreach (var v in left)
                {
                    long c = state.PlacedVcpus[v], m = state.PlacedMemory[v];
                    if (c >= dc && m >= dm)
                    {
                        if (cover < 0 || (m, c).CompareTo((state.PlacedMemory[cover], (long)state.PlacedVcpus[cover])) < 0)
                        {
                            cover = v;
                        }

                        continue;
                    }

                    var score = (dc > 0 ? (double)Math.Min(c, dc) / dc : 0) + (dm > 0 ? (double)Math.Min(m, dm) / dm : 0);
                    if (score > bestScore || (score == bestScore && best >= 0 && m > state.PlacedMemory[best]))
                    {
                        best = v;
                        bestScore = score;
                    }
                }

                var take = cover >= 0 ? cover : best;
                if (take < 0)
                {
                    break;
                }

                picked.Add(take);
                left.Remove(take);
                dc -= state.PlacedVcpus[take];
                dm -= state.PlacedMemory[take];
                memory += state.PlacedMemory[take];
            }

            return new Option([.. picked.OrderByDescending(v => state.VmMemory[v]).ThenByDescending(v => state.VmVcpus[v])], memory);
        }

        /// <summary>Moves <paramref name="vms"/> off <paramref name="h"/>; on the first that finds no host, undoes them and marks it stuck.</summary>
        private bool Evict(int h, int[] vms, Dictionary<int, Option[]> costCache)
        {
            var undo = new List<(FleetState.Undo Undo, int To)>();
            foreach (var v in vms)
            {
                var to = Destination(v);
                if (to < 0)
                {
                    for (var i = undo.Count - 1; i >= 0; i--)
                    {
                        state.Revert(undo[i].Undo);
                        moved[undo[i].Undo.Vm] = false;
                        Reindex(undo[i].To);
                        Reindex(h);
                        costCache.Remove(undo[i].To);
                    }

                    stuck[v] = true;
                    return false;
                }

                undo.Add((state.Move(v, to), to));
                moved[v] = true;
                Reindex(h);
                Reindex(to);
                costCache.Remove(to);
            }

            moves.AddRange(undo.Select(u => state.ToMove(u.Undo.Vm, h, u.To)));
            return true;
        }

        /// <summary>Best fit on memory among hosts with room beyond their reserved instances; -1 when none.</summary>
        private int Destination(int v)
        {
            foreach (var (_, d) in byFreeMemory.GetViewBetween((state.VmMemory[v], int.MinValue), (long.MaxValue, int.MaxValue)))
            {
                if (state.Allows(v, d, state.FreeVcpus[d] - (long)reserved[d] * sc, EffectiveMemory(d)))
                {
                    return d;
                }
            }

            return -1;
        }

        private void Reserve(int h, int slots)
        {
            reserved[h] += slots;
            Reindex(h);
        }

        private long EffectiveMemory(int h) => state.FreeMemory[h] - reserved[h] * sm;

        private void Reindex(int h)
        {
            if (!state.HostOk[h])
            {
                return;
            }

            byFreeMemory.Remove((key[h], h));
            key[h] = EffectiveMemory(h);
            byFreeMemory.Add((key[h], h));
        }
    }

    private sealed record Option(int[] Vms, long Memory);
}
