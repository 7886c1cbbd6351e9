using System.Collections.Immutable;
using System.Globalization;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Grains.Planning;

namespace OrleansMigrate.Planning;

/// <summary>
/// A seeded synthetic fleet for planner tests and benchmarks: three hardware generations (40 cores/160 GiB with
/// AVX2, 56/224 with AVX-512, 80/320 with AVX-512 and AMX) with firmware and hypervisor versions that differ within
/// a generation; VMs of nine shapes from 1 core/2 GiB to 32/128, most needing AVX, some AVX2, some AVX-512; a few
/// percent in anti-affinity groups of three, about 1 % with a pass-through GPU, instance classes standard,
/// critical, economy and any-version; about 1 % of hosts cordoned and 0.5 % degraded. VMs are placed on random
/// hosts that can take them, which spreads free capacity thinly — the fragmentation a defragmentation undoes.
/// The same seed gives the same fleet.
/// </summary>
public static class SyntheticFleet
{
    private static readonly (int Cores, long MemoryGiB, string[] Features, string[] Firmware, string Model)[] Generations =
    [
        (40, 160, ["sse4_2", "avx", "avx2"], ["1.8.0", "1.9.2"], "Xeon Gold 6148"),
        (56, 224, ["sse4_2", "avx", "avx2", "avx512f"], ["2.4.1", "2.5.0"], "Xeon Gold 6348"),
        (80, 320, ["sse4_2", "avx", "avx2", "avx512f", "amx"], ["3.0.2", "3.1.0"], "Xeon Platinum 8480"),
    ];

    private static readonly string[] Hypervisors = ["7.2.0", "8.0.0", "8.2.1"];

    /// <summary>Shapes (cores, GiB) and their share in per mille.</summary>
    private static readonly (int Vcpus, long MemoryGiB, int PerMille)[] Shapes =
    [
        (1, 2, 250), (1, 4, 200), (2, 4, 150), (2, 8, 170), (4, 8, 80), (4, 16, 80), (8, 32, 50), (16, 64, 16), (32, 128, 4),
    ];

    private static readonly string[] Classes = ["standard", "standard", "standard", "standard", "standard", "standard", "standard", "critical", "economy", "any-version"];

    /// <param name="fillCap">Hosts are filled to at most this share of cores and memory.</param>
    public static FleetSnapshot Generate(int hosts, int vms, int seed, double fillCap = 0.97)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hosts, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(vms);
        var random = new Random(seed);
        var registered = DateTimeOffset.UnixEpoch;
        var specs = new HostSpec[hosts];
        var health = new HostHealth[hosts];
        var scheduling = new SchedulingState[hosts];
        var freeCores = new long[hosts];
        var freeMemory = new long[hosts];
        var placements = new Dictionary<string, Fleet.Placement>[hosts];
        var groupsOn = new HashSet<string>[hosts];
        for (var h = 0; h < hosts; h++)
        {
            var gen = random.Next(100) switch { < 30 => 0, < 75 => 1, _ => 2 };
            var g = Generations[gen];
            var id = "h-" + (h + 1).ToString("D5", CultureInfo.InvariantCulture);
            specs[h] = new HostSpec(id, g.Cores, g.MemoryGiB * 1024, g.Model, [.. g.Features], gen + 1,
                g.Firmware[random.Next(g.Firmware.Length)], "6.1.0", Hypervisors[Math.Min(Hypervisors.Length - 1, gen + random.Next(2))],
                ImmutableDictionary<string, string>.Empty.Add("rack", "r" + (h / 40).ToString(CultureInfo.InvariantCulture)));
            var roll = random.Next(1000);
            scheduling[h] = roll < 10 ? SchedulingState.Cordoned : SchedulingState.Schedulable;
            health[h] = roll is >= 10 and < 15 ? HostHealth.Degraded : HostHealth.Ok;
            freeCores[h] = (long)(g.Cores * fillCap);
            freeMemory[h] = (long)(g.MemoryGiB * 1024 * fillCap);
            placements[h] = [];
            groupsOn[h] = [];
        }

        var records = new List<VmRecord>(vms);
        string? group = null;
        var groupLeft = 0;
        var groups = 0;
        for (var v = 0; v < vms; v++)
        {
            var pick = random.Next(1000);
            var shape = Shapes[^1];
            foreach (var s in Shapes)
            {
                if (pick < s.PerMille)
                {
                    shape = s;
                    break;
                }

                pick -= s.PerMille;
            }

            var featureRoll = random.Next(100);
            string[] features = featureRoll < 70 ? ["avx"] : featureRoll < 90 ? ["avx", "avx2"] : ["avx", "avx2", "avx512f"];
            var passthrough = random.Next(100) == 0;
            var labels = ImmutableDictionary<string, string>.Empty;
            if (groupLeft == 0 && random.Next(100) < 2)
            {
                group = "aa-" + (++groups).ToString(CultureInfo.InvariantCulture);
                groupLeft = 3;
            }

            if (groupLeft > 0)
            {
                labels = labels.Add(DestinationSelector.AntiAffinityLabel, group!);
                groupLeft--;
            }

            var id = "vm-" + (v + 1).ToString("D6", CultureInfo.InvariantCulture);
            var spec = new VmSpec(id, shape.Vcpus, shape.MemoryGiB * 1024, [.. features],
                passthrough ? PlanRules.PassthroughClass : Classes[random.Next(Classes.Length)], labels,
                [new DiskSpec(id + "-root", 40)], [],
                passthrough ? [new PassthroughDevice("0000:3b:00.0", "gpu")] : []);

            // Random hosts until one fits (compatible, room, anti-affinity); then any that fits, scanning.
            var host = -1;
            for (var attempt = 0; attempt < 64 && host < 0; attempt++)
            {
                var h = random.Next(hosts);
                if (Fits(h))
                {
                    host = h;
                }
            }

            for (var h = 0; h < hosts && host < 0; h++)
            {
                if (Fits(h))
                {
                    host = h;
                }
            }

            if (host < 0)
            {
                continue;
            }

            freeCores[host] -= spec.Vcpus;
            freeMemory[host] -= spec.MemoryMiB;
            placements[host][id] = new Fleet.Placement(spec.Vcpus, spec.MemoryMiB);
            if (labels.TryGetValue(DestinationSelector.AntiAffinityLabel, out var gname))
            {
                groupsOn[host].Add(gname);
            }

            records.Add(new VmRecord(spec, specs[host].HostId, PowerState.Running, registered));

            bool Fits(int h) =>
                freeCores[h] >= spec.Vcpus && freeMemory[h] >= spec.MemoryMiB
                && FleetValidation.IncompatibilityReason(specs[h], spec) is null
                && (!labels.TryGetValue(DestinationSelector.AntiAffinityLabel, out var gr) || !groupsOn[h].Contains(gr));
        }

        var hostRecords = new HostRecord[hosts];
        for (var h = 0; h < hosts; h++)
        {
            hostRecords[h] = new HostRecord(specs[h], health[h], scheduling[h], placements[h].ToImmutableDictionary(StringComparer.Ordinal),
                ImmutableDictionary<string, Fleet.Placement>.Empty, registered);
        }

        return new FleetSnapshot(hostRecords, records);
    }
}
