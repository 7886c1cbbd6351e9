using System.CommandLine;
using OrleansMigrate.Cli.Output;
using OrleansMigrate.Client.Parsing;
using OrleansMigrate.Fleet;
using Spectre.Console;

namespace OrleansMigrate.Cli.Commands;

public static class HostCommands
{
    public static Command Build()
    {
        var host = new Command("host", "Hypervisor hosts in the fleet registry");
        host.Subcommands.Add(Add());
        host.Subcommands.Add(Update());
        host.Subcommands.Add(List());
        host.Subcommands.Add(Show());
        host.Subcommands.Add(SetScheduling("cordon", "Keep new VMs off a host", (c, id) => c.CordonHostAsync(id)));
        host.Subcommands.Add(SetScheduling("uncordon", "Let new VMs onto a host again", (c, id) => c.UncordonHostAsync(id)));
        host.Subcommands.Add(DrainCommand.Build());
        host.Subcommands.Add(PowerCommands.HostPower());
        host.Subcommands.Add(Remove());
        return host;
    }

    private static Argument<string> HostId() => new("HOST") { Description = "Host id" };

    private static Command Add()
    {
        var id = HostId();
        var cores = new Option<int>("--cores") { Description = "Physical cores for VMs (1-4096)", Required = true };
        var memory = new Option<string>("--memory") { Description = "Memory for VMs: MiB or with unit, e.g. 256G", Required = true };
        var cpuModel = new Option<string>("--cpu-model") { Description = "CPU model name", DefaultValueFactory = _ => "generic-x86-64" };
        var features = new Option<string>("--cpu-features") { Description = "Comma-separated CPU flags, e.g. sse4_2,avx,avx2", DefaultValueFactory = _ => "" };
        var hwGen = new Option<int>("--hw-gen") { Description = "Hardware generation (1-1000)", DefaultValueFactory = _ => 1 };
        var firmware = new Option<string>("--firmware") { Description = "Firmware version, e.g. 2.4.1", DefaultValueFactory = _ => "1.0.0" };
        var kernel = new Option<string>("--kernel") { Description = "Kernel version", DefaultValueFactory = _ => "6.1.0" };
        var hypervisor = new Option<string>("--hypervisor") { Description = "Hypervisor (QEMU) version", DefaultValueFactory = _ => "7.2.0" };
        var labels = new Option<string[]>("--label") { Description = "KEY=VALUE, repeatable", AllowMultipleArgumentsPerToken = false };
        var devices = DeviceOption("Devices the host offers");
        var cmd = new Command("add", "Register a host") { id, cores, memory, cpuModel, features, hwGen, firmware, kernel, hypervisor, labels, devices };
        cmd.SetClientAction(async (parse, client, _) =>
        {
            var spec = new HostSpec(
                parse.GetValue(id)!,
                parse.GetValue(cores),
                CliParsers.ParseMemoryMiB("--memory", parse.GetValue(memory)!),
                parse.GetValue(cpuModel)!,
                CliParsers.ParseList(parse.GetValue(features)),
                parse.GetValue(hwGen),
                parse.GetValue(firmware)!,
                parse.GetValue(kernel)!,
                parse.GetValue(hypervisor)!,
                CliParsers.ParseLabels("--label", parse.GetValue(labels)))
            {
                Devices = DeviceCounts.ParseAll("--device", parse.GetValue(devices)),
            };
            var record = await client.AddHostAsync(spec);
            CommandRunner.Print(parse, record, r => Render.Hosts([r]));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary><c>--device KIND:MODEL:COUNT</c>, repeatable (kinds: gpu, fpga, vf, vgpu).</summary>
    internal static Option<string[]> DeviceOption(string what) =>
        new("--device") { Description = $"{what}: KIND:MODEL:COUNT (kind gpu, fpga, vf or vgpu), e.g. gpu:A10:4, vf:mlx5:16; repeatable", AllowMultipleArgumentsPerToken = false };

    private static Command Update()
    {
        var id = HostId();
        var devices = DeviceOption("The devices the host offers from now on (replaces the list)");
        var clear = new Option<bool>("--no-devices") { Description = "The host offers no devices from now on" };
        var cmd = new Command("update", "Change what a registered host offers: its devices (refused below what its VMs and reservations hold)") { id, devices, clear };
        cmd.SetClientAction(async (parse, client, _) =>
        {
            var given = parse.GetValue(devices) ?? [];
            if (given.Length == 0 && !parse.GetValue(clear))
            {
                throw Errors.OmigException.Invalid("--device", "name at least one device, or --no-devices to offer none");
            }

            if (given.Length > 0 && parse.GetValue(clear))
            {
                throw Errors.OmigException.Invalid("--no-devices", "cannot be combined with --device");
            }

            var record = await client.SetHostDevicesAsync(parse.GetValue(id)!, DeviceCounts.ParseAll("--device", given));
            CommandRunner.Print(parse, record, r => Render.HostDetail(r, null, "not asked (omig host show asks the agent)"));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command List()
    {
        var cmd = new Command("list", "List hosts with capacity and state");
        cmd.SetClientAction(async (parse, client, _) =>
        {
            var hosts = await client.ListHostsAsync();
            var silos = await client.GetSilosAsync();
            if (GlobalOptions.JsonToConsole(parse))
            {
                // Each host as its record, with "agent": the silo running its agent, or null when no live silo serves it.
                var array = new System.Text.Json.Nodes.JsonArray();
                foreach (var h in hosts)
                {
                    var node = System.Text.Json.JsonSerializer.SerializeToNode(h, Json.Options)!.AsObject();
                    node["agent"] = HostAgents.SiloOf(h.HostId, silos);
                    array.Add(node);
                }

                Console.Out.WriteLine(array.ToJsonString(Json.Options));
                return ExitCodes.Ok;
            }

            CommandRunner.Print(parse, hosts, h => Render.Hosts(h, silos));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Show()
    {
        var id = HostId();
        var cmd = new Command("show", "One host in detail, with what its agent reports") { id };
        cmd.SetClientAction(async (parse, client, _) =>
        {
            var record = await client.GetHostAsync(parse.GetValue(id)!);
            Agents.HostAgentInfo? agent = null;
            string? agentError = null;
            try
            {
                agent = await client.GetHostAgentAsync(record.HostId);
            }
            catch (Errors.OmigException ex)
            {
                agentError = ex.Reason;
            }

            if (GlobalOptions.JsonToConsole(parse))
            {
                Console.Out.WriteLine(Json.Serialize(new { host = record, agent, agent_error = agentError }));
            }
            else
            {
                AnsiConsole.Write(Render.HostDetail(record, agent, agentError));
            }

            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command SetScheduling(string name, string description, Func<Client.OmigClient, string, Task<HostRecord>> change)
    {
        var id = HostId();
        var cmd = new Command(name, description) { id };
        cmd.SetClientAction(async (parse, client, _) =>
        {
            var record = await change(client, parse.GetValue(id)!);
            CommandRunner.Print(parse, record, r => Render.Hosts([r]));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Remove()
    {
        var id = HostId();
        var cmd = new Command("remove", "Unregister an empty host") { id };
        cmd.SetClientAction(async (parse, client, _) =>
        {
            await client.RemoveHostAsync(parse.GetValue(id)!);
            Console.Out.WriteLine(GlobalOptions.JsonToConsole(parse) ? Json.Serialize(new { removed = parse.GetValue(id) }) : $"host {parse.GetValue(id)} removed");
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
