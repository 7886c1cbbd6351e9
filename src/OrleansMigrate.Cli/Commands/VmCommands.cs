using System.CommandLine;
using OrleansMigrate.Cli.Output;
using OrleansMigrate.Client.Parsing;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using Spectre.Console;

namespace OrleansMigrate.Cli.Commands;

public static class VmCommands
{
    public static Command Build()
    {
        var vm = new Command("vm", "Virtual machines");
        vm.Subcommands.Add(Create());
        vm.Subcommands.Add(List());
        vm.Subcommands.Add(Show());
        vm.Subcommands.Add(Delete());
        vm.Subcommands.Add(MigrationCommands.Migrate());
        vm.Subcommands.Add(Qmp());
        vm.Subcommands.Add(Start());
        return vm;
    }

    private static Argument<string> VmId() => new("VM") { Description = "VM id" };

    private static Command Create()
    {
        var id = VmId();
        var host = new Option<string>("--host") { Description = "Host to create the VM on", Required = true };
        var vcpus = new Option<int>("--vcpus") { Description = "vCPUs (1-1024)", DefaultValueFactory = _ => 1 };
        var memory = new Option<string>("--memory") { Description = "Memory: MiB or with unit, e.g. 4G", DefaultValueFactory = _ => "1024" };
        var features = new Option<string>("--cpu-features") { Description = "Comma-separated CPU flags the guest needs", DefaultValueFactory = _ => "" };
        var instanceClass = new Option<string>("--class") { Description = "Instance class (selects the migration policy)", DefaultValueFactory = _ => "standard" };
        var labels = new Option<string[]>("--label") { Description = "KEY=VALUE, repeatable" };
        var disks = new Option<string[]>("--disk") { Description = "Cloud disk ID:SIZE_GIB, repeatable (default: VM-root:20)" };
        var nics = new Option<string[]>("--nic") { Description = "NIC VPC:IP[:MAC], repeatable" };
        var passthrough = new Option<string[]>("--passthrough") { Description = "Pass-through PCI device ADDRESS=KIND, repeatable" };
        var devices = HostCommands.DeviceOption("Devices the VM needs, held on its host like cores and memory");
        var image = new Option<string?>("--image") { Description = "Raw boot image, an absolute path every host sees (QEMU hosts; must be inside their image directories)" };
        var cmd = new Command("create", "Create a VM on a host: reserve capacity, create its disks and flows, start it")
        {
            id, host, vcpus, memory, features, instanceClass, labels, disks, nics, passthrough, image, devices,
        };
        cmd.SetClientAction(async (parse, client, _) =>
        {
            var vmId = parse.GetValue(id)!;
            FleetValidation.RequireId("vm_id", vmId);
            var diskArgs = parse.GetValue(disks) ?? [];
            var spec = new VmSpec(
                vmId,
                parse.GetValue(vcpus),
                CliParsers.ParseMemoryMiB("--memory", parse.GetValue(memory)!),
                CliParsers.ParseList(parse.GetValue(features)),
                parse.GetValue(instanceClass)!,
                CliParsers.ParseLabels("--label", parse.GetValue(labels)),
                diskArgs.Length == 0 ? [new DiskSpec($"{vmId[..Math.Min(vmId.Length, 58)]}-root", 20)] : [.. diskArgs.Select(CliParsers.ParseDisk)],
                [.. (parse.GetValue(nics) ?? []).Select(n => CliParsers.ParseNic(n, vmId))],
                [.. (parse.GetValue(passthrough) ?? []).Select(CliParsers.ParsePassthrough)],
                parse.GetValue(image) is { } path ? Path.GetFullPath(path) : null)
            {
                Devices = DeviceCounts.ParseAll("--device", parse.GetValue(devices)),
            };
            FleetValidation.ValidateDevices("--device", spec.Devices, FleetValidation.MaxDeviceCountPerVm);
            var record = await client.CreateVmAsync(spec, parse.GetValue(host)!);
            CommandRunner.Print(parse, record, r => Render.Vms([r]));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command List()
    {
        var host = new Option<string?>("--host") { Description = "Only VMs on this host" };
        var cmd = new Command("list", "List VMs") { host };
        cmd.SetClientAction(async (parse, client, _) =>
        {
            var vms = await client.ListVmsAsync();
            var only = parse.GetValue(host);
            var shown = only is null ? vms : [.. vms.Where(v => v.HostId == only)];
            CommandRunner.Print(parse, shown, v => Render.Vms(v));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Show()
    {
        var id = VmId();
        var cmd = new Command("show", "One VM with its disks and NICs") { id };
        cmd.SetClientAction(async (parse, client, _) =>
        {
            var vm = await client.GetVmAsync(parse.GetValue(id)!);
            var disks = (await Task.WhenAll(vm.Spec.Disks.Select(d => client.GetDiskAsync(d.DiskId)))).OfType<CloudDiskRecord>().ToList();
            VmHypervisorView? hypervisor;
            try
            {
                hypervisor = await client.GetVmHypervisorAsync(vm.VmId);
            }
            catch (Errors.OmigException ex) when (ex.Code == Errors.OmigErrorCode.Unavailable)
            {
                // The host's silo is down: the registry still answers, the hypervisor cannot.
                hypervisor = new VmHypervisorView(vm.HostId, "?", null, ex.Reason);
            }

            if (GlobalOptions.JsonToConsole(parse))
            {
                Console.Out.WriteLine(Json.Serialize(new { vm, disks, hypervisor }));
            }
            else
            {
                AnsiConsole.Write(Render.VmDetail(vm, disks, hypervisor));
            }

            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Start()
    {
        var id = VmId();
        var cmd = new Command("start", "Boot a VM that was lost (its hypervisor process died) or stopped, on its host; record one left unknown (its host's agent was unreachable) running") { id };
        cmd.SetClientAction(async (parse, client, _) =>
        {
            var record = await client.StartVmAsync(parse.GetValue(id)!);
            CommandRunner.Print(parse, record, r => Render.Vms([r]));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Qmp()
    {
        var id = VmId();
        var json = new Argument<string>("JSON") { Description = "One QMP command, e.g. '{\"execute\":\"query-status\"}'" };
        var cmd = new Command("qmp", "Pass one QMP command to the VM's QEMU through its host agent and print the reply (allow-listed commands only)") { id, json };
        cmd.SetClientAction(async (parse, client, _) =>
        {
            var reply = await client.QmpAsync(parse.GetValue(id)!, parse.GetValue(json)!);
            Console.Out.WriteLine(reply);

            // QEMU answered with an error: the command ran but failed, like virsh qemu-monitor-command.
            return reply.StartsWith("{\"error\"", StringComparison.Ordinal) ? ExitCodes.Unexpected : ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Delete()
    {
        var id = VmId();
        var cmd = new Command("delete", "Stop a VM and remove it with its disks and flows") { id };
        cmd.SetClientAction(async (parse, client, _) =>
        {
            await client.DeleteVmAsync(parse.GetValue(id)!);
            Console.Out.WriteLine(GlobalOptions.JsonToConsole(parse) ? Json.Serialize(new { deleted = parse.GetValue(id) }) : $"vm {parse.GetValue(id)} deleted");
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
