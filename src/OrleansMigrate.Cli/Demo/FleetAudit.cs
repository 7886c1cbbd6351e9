using OrleansMigrate.Client;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Cli.Demo;

/// <summary>
/// Checks the registry against the host agents' own view: every VM runs on exactly one host (its
/// record's), every disk is writable only there, every flow delivers to it, and host ledgers add up.
/// </summary>
public static class FleetAudit
{
    public static async Task<IReadOnlyList<string>> CheckAsync(OmigClient client)
    {
        var problems = new List<string>();
        var hosts = await client.ListHostsAsync();
        var vms = await client.ListVmsAsync();
        var running = new Dictionary<string, List<string>>();
        foreach (var host in hosts)
        {
            var agent = await client.GetHostAgentAsync(host.HostId);
            foreach (var vm in agent.RunningVms)
            {
                (running.TryGetValue(vm, out var list) ? list : running[vm] = []).Add(host.HostId);
            }
        }

        foreach (var vm in vms)
        {
            var where = running.TryGetValue(vm.VmId, out var list) ? list : [];
            if (where.Count != 1 || where[0] != vm.HostId)
            {
                problems.Add($"VM {vm.VmId} is recorded on {vm.HostId} but runs on [{string.Join(",", where)}]");
            }

            foreach (var d in vm.Spec.Disks)
            {
                var disk = await client.GetDiskAsync(d.DiskId);
                if (disk?.WriterHost != vm.HostId || disk.Attachments.Count(a => a.Value.Mode == DiskAttachmentMode.ReadWrite) != 1)
                {
                    problems.Add($"disk {d.DiskId} of VM {vm.VmId} is writable on [{disk?.WriterHost}] instead of only {vm.HostId}");
                }
            }

            foreach (var nic in vm.Spec.Nics)
            {
                var table = await client.GetVpcAsync(nic.VpcId);
                var flowHost = table.Flows.TryGetValue(nic.Ip, out var flow) ? flow.HostId : null;
                if (flowHost != vm.HostId)
                {
                    problems.Add($"flow {nic.VpcId}/{nic.Ip} of VM {vm.VmId} delivers to [{flowHost}] instead of {vm.HostId}");
                }
            }

            var hostRecord = hosts.FirstOrDefault(h => h.HostId == vm.HostId);
            if (hostRecord is null || !hostRecord.Vms.ContainsKey(vm.VmId))
            {
                problems.Add($"host {vm.HostId} does not account for VM {vm.VmId}");
            }
        }

        foreach (var extra in running.Keys.Except(vms.Select(v => v.VmId)))
        {
            problems.Add($"VM {extra} runs on [{string.Join(",", running[extra])}] but the registry does not know it");
        }

        return problems;
    }
}
