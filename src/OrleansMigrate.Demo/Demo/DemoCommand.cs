using System.CommandLine;
using System.Diagnostics;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Cli.Output;
using Spectre.Console;

namespace OrleansMigrate.Cli.Demo;

public static class DemoCommand
{
    /// <summary>The <c>omig-demo</c> command line (what <c>omig demo</c> runs): the demo's options and the global ones.</summary>
    public static RootCommand Build()
    {
        var hosts = new Option<int>("--hosts") { Description = "Simulated hosts (1-64)", DefaultValueFactory = _ => 4 };
        var vms = new Option<int>("--vms") { Description = "VMs to create (0-500)", DefaultValueFactory = _ => 12 };
        var keep = new Option<bool>("--keep-running") { Description = "Keep the embedded cluster up afterwards (gateway 30000) so other omig commands can reach it; Ctrl-C stops it" };
        var cmd = new RootCommand("omig demo (omig-demo): start the embedded cluster in-process with a simulated fleet and show it (--json PATH writes a summary)") { hosts, vms, keep };
        GlobalOptions.AddTo(cmd);
        OmigCommandLine.AddExitCodesToHelp(cmd);
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var hostCount = parse.GetValue(hosts);
            var vmCount = parse.GetValue(vms);
            if (hostCount is < 1 or > 64)
            {
                throw Errors.OmigException.Invalid("--hosts", $"must be between 1 and 64, got {hostCount}");
            }

            if (vmCount is < 0 or > 500)
            {
                throw Errors.OmigException.Invalid("--vms", $"must be between 0 and 500, got {vmCount}");
            }

            var clock = Stopwatch.StartNew();
            var asJson = GlobalOptions.JsonToConsole(parse);
            var progress = asJson ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }) : AnsiConsole.Console;
            progress.MarkupLine("[bold]OrleansMigrate demo[/]: starting the embedded cluster (one silo, roles control+host, in-memory state)…");
            await using var cluster = await EmbeddedCluster.StartAsync(parse.GetValue(keep) ? 30000 : 0, ct);
            var client = cluster.Client;
            var startMs = clock.ElapsedMilliseconds;

            var hostSpecs = DemoFleet.Hosts(hostCount);
            foreach (var spec in hostSpecs)
            {
                await client.AddHostAsync(spec);
            }

            var vmPlan = DemoFleet.Vms(vmCount, hostSpecs);
            if (vmPlan.Count < vmCount)
            {
                throw Errors.OmigException.Invalid("--vms", $"{hostCount} demo host(s) have room for {vmPlan.Count} of the {vmCount} VMs asked for; add --hosts");
            }

            foreach (var (vm, hostId) in vmPlan)
            {
                await client.CreateVmAsync(vm, hostId);
            }

            var silos = await client.GetSilosAsync();
            var hostRecords = await client.ListHostsAsync();
            var vmRecords = await client.ListVmsAsync();
            IReadOnlyList<string> problems = await FleetAudit.CheckAsync(client);

            var summary = new
            {
                cluster = new { silos, start_ms = startMs },
                hosts = hostRecords.Select(h => new { host = h.HostId, cores = h.Spec.Cores, used_vcpus = h.UsedVcpus, memory_mib = h.Spec.MemoryMiB, used_memory_mib = h.UsedMemoryMiB, vms = h.Vms.Count }),
                vms = vmRecords.Select(v => new { vm = v.VmId, host = v.HostId, vcpus = v.Spec.Vcpus, memory_mib = v.Spec.MemoryMiB, disks = v.Spec.Disks.Length, nics = v.Spec.Nics.Length }),
            };
            if (!asJson)
            {
                AnsiConsole.Write(new Rule("[bold]cluster[/]").LeftJustified());
                AnsiConsole.Write(Render.Silos(silos));
                AnsiConsole.Write(new Rule($"[bold]hosts ({hostRecords.Length})[/]").LeftJustified());
                AnsiConsole.Write(Render.Hosts(hostRecords, silos));
                AnsiConsole.Write(new Rule($"[bold]VMs ({vmRecords.Length})[/]").LeftJustified());
                AnsiConsole.Write(Render.Vms(vmRecords));
                foreach (var vpc in vmRecords.SelectMany(v => v.Spec.Nics).Select(n => n.VpcId).Distinct().Order(StringComparer.Ordinal))
                {
                    var table = await client.GetVpcAsync(vpc);
                    AnsiConsole.MarkupLine($"VPC [bold]{Markup.Escape(vpc)}[/]: {table.Flows.Count} flows, " +
                        Markup.Escape(string.Join(", ", table.Flows.Values.OrderBy(f => f.Ip, StringComparer.Ordinal).Select(f => $"{f.Ip}→{f.HostId}"))));
                }

                AnsiConsole.MarkupLine(problems.Count == 0
                    ? "[green]audit: every VM runs on exactly its recorded host, its disks are writable only there and its flows deliver there[/]"
                    : "[red]audit found problems:[/]\n  " + Markup.Escape(string.Join("\n  ", problems)));
            }

            // A live migration of one VM with its disks and NIC, then a few at once.
            IReadOnlyList<Migration.MigrationStatus> migrations = [];
            if (vmRecords.Length > 0 && hostRecords.Length > 1)
            {
                var first = vmRecords[0];
                progress.Write(new Rule($"[bold]live migration of {Markup.Escape(first.VmId)}[/] (disks {first.Spec.Disks.Length}, NICs {first.Spec.Nics.Length}, guest dirtying memory)").LeftJustified());
                var one = await client.MigrateAsync(new Migration.MigrationRequest(first.VmId, RequestedBy: "demo"));
                var done = await MigrationCommands.FollowAsync(client, [one.MigrationId], quiet: asJson, ct);
                if (!asJson)
                {
                    AnsiConsole.Write(Render.MigrationReport(done[0]));
                }

                var batch = vmRecords.Skip(1).Take(Math.Min(3, vmRecords.Length - 1)).ToList();
                progress.Write(new Rule($"[bold]{batch.Count} concurrent migrations[/]").LeftJustified());
                var started = new List<string>();
                foreach (var vm in batch)
                {
                    started.Add((await client.MigrateAsync(new Migration.MigrationRequest(vm.VmId, RequestedBy: "demo"))).MigrationId);
                }

                var many = await MigrationCommands.FollowAsync(client, started, quiet: asJson, ct);
                if (!asJson)
                {
                    AnsiConsole.Write(Render.Migrations(many));
                }

                migrations = [.. done, .. many];
                problems = await FleetAudit.CheckAsync(client);
                if (!asJson)
                {
                    AnsiConsole.MarkupLine(problems.Count == 0
                        ? "[green]audit after the migrations: every VM runs on exactly its recorded host, its disks are writable only there and its flows deliver there[/]"
                        : "[red]audit found problems:[/]\n  " + Markup.Escape(string.Join("\n  ", problems)));
                }
            }

            object Final() => new { summary.cluster, summary.hosts, summary.vms, migrations, audit = new { ok = problems.Count == 0, problems }, wall_ms = clock.ElapsedMilliseconds };
            if (asJson)
            {
                Console.Out.WriteLine(Json.Serialize(Final()));
            }

            if (GlobalOptions.JsonPath(parse) is { } path)
            {
                await File.WriteAllTextAsync(path, Json.Serialize(Final()), ct);
                progress.MarkupLine($"summary written to [bold]{Markup.Escape(path)}[/]");
            }

            if (parse.GetValue(keep))
            {
                progress.MarkupLine($"cluster running: gateway port {cluster.Options.GatewayPort}, cluster id {cluster.Options.ClusterId}. " +
                    $"Try: omig --cluster-id {cluster.Options.ClusterId} host list. Ctrl-C to stop.");
                await cluster.WaitForShutdownAsync(ct);
            }

            return problems.Count == 0 ? ExitCodes.Ok : ExitCodes.Unexpected;
        });
        return cmd;
    }
}
