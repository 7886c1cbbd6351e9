using System.Collections.Immutable;
using System.Globalization;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Grains.Planning;
using FleetPlacement = OrleansMigrate.Fleet.Placement;

namespace OrleansMigrate.Tests.Planning;

/// <summary>Small hand-made fleets for planner tests: hosts and VMs by id, sizes in cores and GiB; placements follow the VMs.</summary>
public sealed class PlanningFleet
{
    private readonly List<(HostSpec Spec, HostHealth Health, SchedulingState Scheduling, ImmutableDictionary<string, FleetPlacement> Reservations)> hosts = [];
    private readonly List<VmRecord> vms = [];

    public static readonly string[] DefaultFeatures = ["sse4_2", "avx", "avx2"];

    public PlanningFleet Host(
        string id, int cores = 32, long memoryGiB = 128, string[]? features = null, string firmware = "1.0.0", string hypervisor = "7.2.0",
        SchedulingState scheduling = SchedulingState.Schedulable, HostHealth health = HostHealth.Ok, (int Vcpus, long MemoryGiB)? reserved = null,
        string? rack = null, DeviceCount[]? devices = null)
    {
        var spec = new HostSpec(id, cores, memoryGiB * 1024, "cpu", [.. features ?? DefaultFeatures], 1, firmware, "6.1.0", hypervisor,
            rack is null ? ImmutableDictionary<string, string>.Empty : ImmutableDictionary<string, string>.Empty.Add("rack", rack)) { Devices = [.. devices ?? []] };
        var reservations = reserved is { } r
            ? ImmutableDictionary<string, FleetPlacement>.Empty.Add("mig-x", new FleetPlacement(r.Vcpus, r.MemoryGiB * 1024))
            : ImmutableDictionary<string, FleetPlacement>.Empty;
        hosts.Add((spec, health, scheduling, reservations));
        return this;
    }

    public PlanningFleet Vm(
        string id, string host, int vcpus, long memoryGiB, string[]? features = null, string? group = null, string instanceClass = "standard",
        bool passthrough = false, DeviceCount[]? devices = null) =>
        VmMiB(id, host, vcpus, memoryGiB * 1024, features, group, instanceClass, passthrough, devices);

    public PlanningFleet VmMiB(
        string id, string host, int vcpus, long memoryMiB, string[]? features = null, string? group = null, string instanceClass = "standard",
        bool passthrough = false, DeviceCount[]? devices = null)
    {
        var labels = group is null ? ImmutableDictionary<string, string>.Empty : ImmutableDictionary<string, string>.Empty.Add(DestinationSelector.AntiAffinityLabel, group);
        var spec = new VmSpec(id, vcpus, memoryMiB, [.. features ?? ["avx"]], instanceClass, labels, [], [],
            passthrough ? [new PassthroughDevice("0000:3b:00.0", "gpu")] : []) { Devices = [.. devices ?? []] };
        vms.Add(new VmRecord(spec, host, PowerState.Running, DateTimeOffset.UnixEpoch));
        return this;
    }

    public FleetSnapshot Build() => new(
        [.. hosts.Select(h => new HostRecord(h.Spec, h.Health, h.Scheduling,
            vms.Where(v => v.HostId == h.Spec.HostId).ToImmutableDictionary(v => v.VmId, v => FleetPlacement.Of(v.Spec), StringComparer.Ordinal),
            h.Reservations, DateTimeOffset.UnixEpoch))],
        [.. vms]);

    /// <summary>
    /// A random fleet that exercises every placement rule: feature subsets, versions that compare numerically
    /// (1.9 &lt; 1.10, 2 = 2.0.0), cordoned/draining/degraded hosts, reservations, anti-affinity groups, pinned VMs,
    /// classes with and without the version rule. Hosts are filled randomly up to their capacity.
    /// </summary>
    public static FleetSnapshot Random(int seed, int hostCount, int vmCount)
    {
        var random = new Random(seed);
        string[] pool = ["sse4_2", "avx", "avx2", "avx512f", "amx"];
        string[] versions = ["1.9", "1.10", "1.10.0", "2", "2.0.0", "2.0.1", "10.0"];
        string[] classes = ["standard", "critical", "economy", "any-version", "standard", "passthrough"];
        var fleet = new PlanningFleet();
        var free = new Dictionary<string, (long Cores, long Memory)>();
        for (var h = 0; h < hostCount; h++)
        {
            var id = "h-" + h.ToString(CultureInfo.InvariantCulture);
            var cores = random.Next(4, 33);
            var memory = (long)random.Next(8, 129);
            var features = pool.Where(_ => random.Next(4) > 0).ToArray();
            var roll = random.Next(10);
            (int, long)? reserved = random.Next(5) == 0 ? (random.Next(1, 3), random.Next(1, 5)) : null;
            fleet.Host(id, cores, memory, features, versions[random.Next(versions.Length)], versions[random.Next(versions.Length)],
                roll == 0 ? SchedulingState.Cordoned : roll == 1 ? SchedulingState.Draining : SchedulingState.Schedulable,
                roll == 2 ? HostHealth.Degraded : HostHealth.Ok, reserved);
            free[id] = (cores - (reserved?.Item1 ?? 0), memory * 1024 - (reserved?.Item2 ?? 0) * 1024);
        }

        for (var v = 0; v < vmCount; v++)
        {
            var vcpus = random.Next(1, 9);
            var memory = 512L * random.Next(1, 33);
            var host = "h-" + random.Next(hostCount).ToString(CultureInfo.InvariantCulture);
            if (free[host].Cores < vcpus || free[host].Memory < memory)
            {
                continue;
            }

            free[host] = (free[host].Cores - vcpus, free[host].Memory - memory);
            var features = pool.Where(_ => random.Next(5) == 0).ToArray();
            var group = random.Next(4) == 0 ? "g-" + random.Next(6).ToString(CultureInfo.InvariantCulture) : null;
            var cls = classes[random.Next(classes.Length)];
            fleet.VmMiB("vm-" + v.ToString(CultureInfo.InvariantCulture), host, vcpus, memory, features, group, cls, passthrough: random.Next(15) == 0);
        }

        return fleet.Build();
    }
}
