using OrleansMigrate.Agents;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;

namespace OrleansMigrate.Tests.Migration;

/// <summary>The BRIEF's invariants for one VM, checked against the components' own views.</summary>
public static class Invariants
{
    /// <summary>Violations right now: the VM runs on exactly one host; at most one host may write each disk;
    /// each flow delivers to a host where the VM is (running, paused for switchover, or arriving).</summary>
    public static async Task<List<string>> CheckAsync(OmigClient client, IHostRuntime runtime, VmSpec vm, IEnumerable<string> hosts)
    {
        var problems = new List<string>();
        var states = new Dictionary<string, HypervisorVmState?>();
        foreach (var host in hosts)
        {
            states[host] = await runtime.VmStateAsync(host, vm.VmId);
        }

        // Split brain is two hosts running the guest; inside the downtime none runs it, but one must hold it.
        var running = states.Where(s => s.Value == HypervisorVmState.Running).Select(s => s.Key).ToList();
        var held = states.Where(s => s.Value is HypervisorVmState.Running or HypervisorVmState.Paused).Select(s => s.Key).ToList();
        if (running.Count > 1 || held.Count == 0)
        {
            problems.Add($"VM runs on {running.Count} hosts [{string.Join(",", running)}], held by {held.Count}");
        }

        foreach (var d in vm.Disks)
        {
            var disk = await client.GetDiskAsync(d.DiskId);
            var writers = disk?.Attachments.Count(a => a.Value.Mode == DiskAttachmentMode.ReadWrite) ?? 0;
            if (writers > 1)
            {
                problems.Add($"disk {d.DiskId} has {writers} writers");
            }
        }

        foreach (var n in vm.Nics)
        {
            var target = await client.Grains.GetGrain<IVpcFlowTableGrain>(n.VpcId).ResolveAsync(n.Ip);
            if (target is null || states.GetValueOrDefault(target) is not (HypervisorVmState.Running or HypervisorVmState.Paused or HypervisorVmState.Incoming))
            {
                problems.Add($"flow {n.Ip} delivers to {target ?? "nowhere"} where the VM is {states.GetValueOrDefault(target ?? "")?.ToString() ?? "absent"}");
            }
        }

        return problems;
    }

    /// <summary>The end state after a rollback or before any migration: everything on <paramref name="host"/>, nothing left elsewhere.</summary>
    public static async Task AssertWholeOnAsync(OmigClient client, IHostRuntime runtime, VmSpec vm, string host, IEnumerable<string> hosts)
    {
        Assert.Empty(await CheckAsync(client, runtime, vm, hosts));
        Assert.Equal(HypervisorVmState.Running, await runtime.VmStateAsync(host, vm.VmId));
        Assert.Equal(host, (await client.GetVmAsync(vm.VmId)).HostId);
        foreach (var d in vm.Disks)
        {
            var disk = await client.GetDiskAsync(d.DiskId);
            Assert.NotNull(disk);
            Assert.Equal(host, disk.WriterHost);
            Assert.Single(disk.Attachments);
        }

        foreach (var n in vm.Nics)
        {
            var table = await client.GetVpcAsync(n.VpcId);
            Assert.Equal(host, table.Flows[n.Ip].HostId);
            Assert.DoesNotContain(table.Relays, r => r.Ip == n.Ip);
        }

        foreach (var h in hosts)
        {
            var record = await client.GetHostAsync(h);
            Assert.Empty(record.Reservations);
            Assert.Equal(h == host, record.Vms.ContainsKey(vm.VmId));
            if (h != host)
            {
                Assert.Null(await runtime.VmStateAsync(h, vm.VmId));
            }
        }
    }
}
