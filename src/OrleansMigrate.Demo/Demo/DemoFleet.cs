using System.Collections.Immutable;
using System.Globalization;
using OrleansMigrate.Client.Parsing;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;

namespace OrleansMigrate.Cli.Demo;

/// <summary>The demo's simulated fleet: two hardware generations, two VPCs, VMs of three sizes.</summary>
public static class DemoFleet
{
    public static IReadOnlyList<HostSpec> Hosts(int count) =>
        [.. Enumerable.Range(1, count).Select(i =>
        {
            var newer = i % 2 == 0;
            return new HostSpec(
                $"host-{i}",
                Cores: newer ? 64 : 48,
                MemoryMiB: newer ? 512 * 1024 : 384 * 1024,
                CpuModel: newer ? "Xeon Platinum 8480" : "Xeon Gold 6348",
                CpuFeatures: newer ? ["sse4_2", "avx", "avx2", "avx512f", "amx_tile"] : ["sse4_2", "avx", "avx2", "avx512f"],
                HardwareGeneration: newer ? 4 : 3,
                FirmwareVersion: newer ? "2.4.0" : "2.3.1",
                KernelVersion: "6.1.0",
                HypervisorVersion: "7.2.0",
                Labels: ImmutableDictionary<string, string>.Empty.Add("rack", $"r{(i + 1) / 2}").Add("zone", "az-1"));
        })];

    /// <summary>VMs spread round-robin over the hosts that still have room; stops when none has.</summary>
    public static IReadOnlyList<(VmSpec Vm, string HostId)> Vms(int count, IReadOnlyList<HostSpec> hosts)
    {
        var free = hosts.ToDictionary(h => h.HostId, h => (Vcpus: h.Cores, MemoryMiB: h.MemoryMiB));
        var placed = new List<(VmSpec, string)>();
        var next = 0;
        foreach (var vm in Enumerable.Range(1, count).Select(Vm))
        {
            for (var tried = 0; tried < hosts.Count; tried++, next++)
            {
                var host = hosts[next % hosts.Count].HostId;
                if (free[host].Vcpus >= vm.Vcpus && free[host].MemoryMiB >= vm.MemoryMiB)
                {
                    free[host] = (free[host].Vcpus - vm.Vcpus, free[host].MemoryMiB - vm.MemoryMiB);
                    placed.Add((vm, host));
                    next++;
                    break;
                }
            }
        }

        return placed;
    }

    private static VmSpec Vm(int i)
        {
            var id = $"vm-{i:00}";
            var (vcpus, memGiB, cls) = (i % 3) switch
            {
                0 => (16, 64, "critical"),
                1 => (4, 16, "standard"),
                _ => (8, 32, "economy"),
            };
            var vpc = i % 2 == 0 ? "vpc-blue" : "vpc-green";
            var ip = string.Create(CultureInfo.InvariantCulture, $"10.{(i % 2) + 1}.{i / 200}.{10 + (i % 200)}");
            return new VmSpec(id, vcpus, memGiB * 1024L, ["avx2"], cls,
                ImmutableDictionary<string, string>.Empty.Add("tenant", $"t{(i % 4) + 1}")
                    .Add(SimulatedVmSpecs.DirtyLabel, cls == "economy" ? "5" : "20"),
                [new DiskSpec($"{id}-root", 40), new DiskSpec($"{id}-data", 200)],
                [new NicSpec(vpc, ip, CliParsers.DeriveMac(id, ip))],
                []);
        }
}
