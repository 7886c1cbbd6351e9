using System.Collections.Immutable;
using System.CommandLine;
using System.Globalization;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Errors;
using Spectre.Console;

namespace OrleansMigrate.Cli.Bench;

/// <summary><c>omig bench campaign</c>: in-process sizes, and N control-silo processes on PostgreSQL.</summary>
public static partial class BenchCommands
{
    private static async Task<int> RunSizesAsync(ParseResult parse, ImmutableArray<int> sizes, CampaignBenchmarkOptions options, CancellationToken ct)
    {
        var result = await new CampaignSizesBenchmark(sizes, options, line => Console.Error.WriteLine(line)).RunAsync(ct);
        var json = Output.Json.Serialize(result);
        if (GlobalOptions.JsonToConsole(parse))
        {
            Console.Out.WriteLine(json);
            return result.TargetsMet ? ExitCodes.Ok : ExitCodes.Unexpected;
        }

        var path = GlobalOptions.JsonPath(parse) ?? "campaign-sizes.json";
        await File.WriteAllTextAsync(path, json, ct);
        var table = new Table().Border(TableBorder.Rounded).AddColumns("HOSTS", "VMS", "SETUP", "PER SECOND", "MIGRATION P50", "PEAK MEMORY", "BYTES/VM", "BYTES/HOST", "LOST", "VIOLATIONS");
        foreach (var r in result.Sizes)
        {
            table.AddRow($"{r.Hosts}", $"{r.Vms}", $"{r.SetupS:0.0} s", $"{r.MigrationsPerS:0.0}", $"{r.MigrationWallMsP50:0.0} ms", $"{r.PeakMemMb:0} MB",
                $"{r.MemBytesPerVm:0}", $"{r.MemBytesPerHost:0}", $"{r.VmsLost}", $"{r.InvariantViolations}");
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"largest/smallest rate {result.RateRatio:0.00} (≥ {1 - CampaignSizesBenchmark.RateDropLimit:0.00}), setup per VM {result.SetupPerVmRatio:0.00}× "
            + $"(≤ {CampaignSizesBenchmark.SetupPerVmLimit:0.00}), memory per VM spread {result.MemPerVmSpread:0.00} (≤ {CampaignSizesBenchmark.MemoryPerVmLimit:0.00}), "
            + $"≥ 200/s, 0 lost, 0 violations at every size: {(result.TargetsMet ? "[green]met[/]" : "[red]MISSED[/]")}; report written to [bold]{Markup.Escape(path)}[/]");
        return result.TargetsMet ? ExitCodes.Ok : ExitCodes.Unexpected;
    }

    private static async Task<int> RunSilosAsync(ParseResult parse, CampaignSilosOptions options, CancellationToken ct)
    {
        // Ctrl-C or SIGTERM stops the run and kills every process it started. Handled here: the Orleans client's host
        // takes these signals for itself (it stops, the process does not), so the command's token would never see them.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        void Interrupt(System.Runtime.InteropServices.PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, Interrupt);
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, Interrupt);
        CampaignSilosResult result;
        try
        {
            result = await new CampaignSilosBenchmark(options, line => Console.Error.WriteLine(line)).RunAsync(stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.Error.WriteLine("omig: interrupted; every silo process the bench started has been killed");
            return ExitCodes.Cancelled;
        }

        var json = Output.Json.Serialize(result);
        // Exit 1 when the campaign did not complete, a VM was lost, an invariant was violated, or the spread was not shown.
        var code = result.TargetsMet ? ExitCodes.Ok : ExitCodes.Unexpected;
        if (GlobalOptions.JsonToConsole(parse))
        {
            Console.Out.WriteLine(json);
            return code;
        }

        var path = GlobalOptions.JsonPath(parse) ?? Path.Combine("bench-results", "campaign-silos.json");
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir)
        {
            Directory.CreateDirectory(dir);
        }

        await File.WriteAllTextAsync(path, json, ct);
        // The main kinds only; the JSON has every kind seen (disks, VPC tables and shards, history pages…).
        var kinds = SummaryKinds.Where(k => result.Placement.Any(p => p.Grains.ContainsKey(k))).ToList();
        var table = new Table().Border(TableBorder.Rounded).AddColumn("SILO").AddColumn("PID");
        foreach (var k in kinds)
        {
            table.AddColumn(k.ToUpperInvariant().Replace('_', ' '));
        }

        foreach (var p in result.Placement)
        {
            table.AddRow([Markup.Escape(p.Silo + (p.Killed ? " (KILLED)" : "")), $"{p.Pid}", .. kinds.Select(k => $"{p.Grains.GetValueOrDefault(k)}")]);
        }

        AnsiConsole.MarkupLine("most activations of each grain kind seen on each silo (sampled every ~2 s; the whole run, then before the kill; every kind in the JSON):");
        AnsiConsole.Write(table);
        var before = new Table().Border(TableBorder.Rounded).AddColumn("BEFORE THE KILL");
        foreach (var k in kinds)
        {
            before.AddColumn(k.ToUpperInvariant().Replace('_', ' '));
        }

        foreach (var p in result.Placement)
        {
            before.AddRow([Markup.Escape(p.Silo), .. kinds.Select(k => $"{p.GrainsBeforeKill.GetValueOrDefault(k)}")]);
        }

        AnsiConsole.Write(before);
        AnsiConsole.MarkupLine($"{result.Silos} control silos + 1 host silo, {result.Hosts} hosts, {result.Vms} VMs: campaign [bold]{result.CampaignState}[/] in {result.WallS:0.0} s, "
            + $"{result.HostsUpgraded} hosts upgraded, {result.MigrationsCompleted} migrations, {result.MigrationsPerS:0.0} migrations/s, median migration {result.MigrationWallMsP50:0.0} ms, "
            + $"{result.VmsLost} VMs lost, {result.InvariantViolations} violations");
        AnsiConsole.MarkupLine(result.Killed is { } killed
            ? $"killed {Markup.Escape(killed.Silo)} (pid {killed.Pid}) at {killed.AtS:0.0} s with {killed.HostsDoneAtKill} hosts done ({Markup.Escape(killed.Reason)}); first migration after it {(result.RecoveryS is { } r ? $"{r:0.0} s later" : "never")}"
            : "[red]no control silo was killed (the campaign ended first)[/]");
        AnsiConsole.MarkupLine($"control silos that ran drains or migrations: {result.ControlSilosWithWork}; targets (completed, all hosts, 0 lost, 0 violations, a silo killed, ≥ 2 silos working): "
            + $"{(result.TargetsMet ? "[green]met[/]" : "[red]MISSED[/]")}; report written to [bold]{Markup.Escape(path)}[/]");
        return code;
    }

    private static readonly string[] SummaryKinds = [GrainKinds.Campaign, GrainKinds.Drain, GrainKinds.Migration, GrainKinds.Scheduler, "fleet", "host", "vm", "vm_index", "host_directory", "host_agent"];

    private static Command Campaign()
    {
        var hosts = new Option<string>("--hosts") { Description = "Hosts in the simulated fleet (2-20000); several sizes comma-separated (1000,3000,10000) run the campaign at each, in a fresh process each, side by side", DefaultValueFactory = _ => "1000" };
        var perHost = new Option<int>("--vms-per-host") { Description = "VMs per host (1-30)", DefaultValueFactory = _ => 20 };
        var batch = new Option<int>("--batch") { Description = "Hosts in maintenance at once (1-1000)", DefaultValueFactory = _ => 50 };
        var parallel = new Option<int>("--max-parallel-migrations") { Description = "Migrations of the campaign at once (1-10000)", DefaultValueFactory = _ => 400 };
        var acceleration = new Option<double>("--acceleration") { Description = "Modelled time runs this many times faster (1-1000000)", DefaultValueFactory = _ => 1000 };
        var driver = new Option<string>("--driver") { Description = "analytic (memory modelled, no bytes) or simulated (byte-real 8 MiB guests; small fleets)", DefaultValueFactory = _ => "analytic" };
        var skipDefrag = new Option<bool>("--skip-defrag") { Description = "Leave out the defrag part (5,000 hosts / 100,000 VMs planned three times)" };
        var skipPreflight = new Option<bool>("--skip-preflight") { Description = "Leave out the preflight part (24 predicted and measured migrations, about a minute)" };
        var doubleMoves = new Option<bool>("--allow-double-moves") { Description = "Start the whole batch at once (the campaign's --allow-double-moves): faster, some VMs move twice" };
        var mixedFleet = new Option<bool>("--mixed-fleet") { Description = "5 % of the VMs of the pass-through class with a pass-through GPU, on the 10 % of hosts that have GPUs: the campaign moves them cold, to another GPU host, inside their class's maintenance window (opened for the run); reports cold_moves and their downtime p50/p99" };
        var silos = new Option<int?>("--silos") { Description = "Run the campaign over N control silo processes (2-16) and one host silo process on PostgreSQL, kill one control silo when a third of the hosts are done, and report where the grains ran (--json PATH, default bench-results/campaign-silos.json; no defrag or preflight part)" };
        var connectionString = new Option<string?>("--connection-string") { Description = "With --silos: the PostgreSQL (Npgsql) connection string, our schema installed (deploy/postgres/create-db.sh); default $OMIG_PG_CONNSTR" };
        var siloDll = new Option<string?>("--silo-dll") { Description = "With --silos: path of omig-silo.dll (default: next to omig.dll, else the repository's Release build)" };
        var killSilo = new Option<string>("--kill-silo") { Description = "With --silos: the control silo killed a third of the way: campaign (the one holding the campaign grain), busiest (the most control-plane activations) or a name (control-2)", DefaultValueFactory = _ => "campaign" };
        var cmd = new Command("campaign", "A rolling firmware upgrade of a whole simulated fleet through the unchanged control plane (--json PATH, default campaign.json); exit 1 when a target is missed")
        {
            hosts, perHost, batch, parallel, acceleration, driver, skipDefrag, skipPreflight, doubleMoves, silos, connectionString, siloDll, killSilo, mixedFleet,
        };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var sizes = ParseSizes(parse.GetValue(hosts));
            var options = new CampaignBenchmarkOptions(sizes[0], parse.GetValue(perHost), parse.GetValue(batch), parse.GetValue(parallel),
                parse.GetValue(acceleration), parse.GetValue(driver)!.Trim().ToLowerInvariant(), 16, !parse.GetValue(skipDefrag), !parse.GetValue(skipPreflight),
                parse.GetValue(doubleMoves), parse.GetValue(mixedFleet));

            if (options.VmsPerHost is < 1 or > 30)
            {
                throw OmigException.Invalid("--vms-per-host", $"must be between 1 and 30, got {options.VmsPerHost}");
            }

            if (options.Batch is < 1 or > 1000 || options.Batch >= sizes.Min())
            {
                throw OmigException.Invalid("--batch", $"must be between 1 and 1000 and below --hosts, got {options.Batch}");
            }

            if (options.MaxParallelMigrations is < 1 or > 10_000)
            {
                throw OmigException.Invalid("--max-parallel-migrations", $"must be between 1 and 10000, got {options.MaxParallelMigrations}");
            }

            if (double.IsNaN(options.TimeAcceleration) || options.TimeAcceleration is < 1 or > 1_000_000)
            {
                throw OmigException.Invalid("--acceleration", $"must be between 1 and 1000000, got {options.TimeAcceleration}");
            }

            if (options.Driver is not ("analytic" or "simulated"))
            {
                throw OmigException.Invalid("--driver", $"must be analytic or simulated, got '{options.Driver}'");
            }

            if (options.MixedFleet && (parse.GetValue(silos) is not null || sizes.Length > 1))
            {
                throw OmigException.Invalid("--mixed-fleet", "runs in one process at one fleet size (not with --silos or several --hosts)");
            }

            if (parse.GetValue(silos) is { } n)
            {
                if (n is < 2 or > 16)
                {
                    throw OmigException.Invalid("--silos", $"must be between 2 and 16 control silos, got {n}");
                }

                if (sizes.Length > 1)
                {
                    throw OmigException.Invalid("--hosts", "--silos runs one fleet size; give one number of hosts");
                }

                if (options.Hosts > 10_000)
                {
                    // The host silo gets every host id in one argument (Linux caps one argument at 128 KiB).
                    throw OmigException.Invalid("--hosts", $"--silos runs at most 10000 hosts (one host silo names them all on its command line), got {options.Hosts}");
                }

                if (options.Driver != "analytic")
                {
                    throw OmigException.Invalid("--driver", "--silos runs the host silo with the analytic driver only");
                }

                var cs = parse.GetValue(connectionString) is { Length: > 0 } given ? given : Environment.GetEnvironmentVariable("OMIG_PG_CONNSTR");
                if (string.IsNullOrWhiteSpace(cs))
                {
                    throw OmigException.Invalid("--connection-string", "--silos needs a PostgreSQL with our schema: give --connection-string CS or set OMIG_PG_CONNSTR");
                }

                var kill = parse.GetValue(killSilo)!.Trim();
                if (kill is not ("campaign" or "busiest") && !(kill.StartsWith("control-", StringComparison.Ordinal)
                    && int.TryParse(kill["control-".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var k) && k >= 1 && k <= n))
                {
                    throw OmigException.Invalid("--kill-silo", $"must be campaign, busiest or control-1 … control-{n}, got '{kill}'");
                }

                return await RunSilosAsync(parse, new CampaignSilosOptions(options, n, cs, SiloDll.Find(parse.GetValue(siloDll)), Kill: kill), ct);
            }

            if (sizes.Length > 1)
            {
                return await RunSizesAsync(parse, sizes, options, ct);
            }

            var result = await new CampaignBenchmark(options, line => Console.Error.WriteLine(line)).RunAsync(ct);
            var json = Output.Json.Serialize(result);
            var met = result.HostsUpgraded == result.Hosts && result.VmsLost == 0 && result.InvariantViolations == 0 && result.MigrationsPerS >= 200
                && (result.Defrag is null || (result.Defrag.PlanS <= 10 && result.Defrag.Reached))
                && (result.Preflight is null || (result.Preflight.DowntimeErrorP50 <= 0.25 && result.Preflight.TotalTimeErrorP50 <= 0.25))
                && (!result.MixedFleet || (result.PassthroughVmsMovedCold == result.PassthroughVms && result.PassthroughVmsMovedLive == 0));
            if (GlobalOptions.JsonToConsole(parse))
            {
                Console.Out.WriteLine(json);
                return met ? ExitCodes.Ok : ExitCodes.Unexpected;
            }

            var path = GlobalOptions.JsonPath(parse) ?? "campaign.json";
            await File.WriteAllTextAsync(path, json, ct);
            var table = new Table().Border(TableBorder.Rounded).AddColumns("HOSTS", "VMS", "UPGRADED", "VMS LOST", "VIOLATIONS", "MIGRATIONS", "PER SECOND", "WALL", "PEAK MEMORY");
            table.AddRow($"{result.Hosts}", $"{result.Vms}", $"{result.HostsUpgraded}", $"{result.VmsLost}", $"{result.InvariantViolations}", $"{result.Migrations}",
                $"{result.MigrationsPerS:0.0}", $"{result.WallS:0.0} s", $"{result.PeakMemMb:0} MB");
            AnsiConsole.Write(table);
            if (result.ColdMoves is { } coldMoves)
            {
                AnsiConsole.MarkupLine($"cold moves: {coldMoves} ({result.PassthroughVmsMovedCold} of {result.PassthroughVms} pass-through GPU VMs moved cold, {result.PassthroughVmsMovedLive} live; {result.GpuHosts} GPU hosts; window {Markup.Escape(result.ColdWindowUtc ?? "any")} UTC), downtime p50 {result.ColdDowntimeMsP50:0.0} ms, p99 {result.ColdDowntimeMsP99:0.0} ms");
            }

            if (result.Defrag is { } d)
            {
                AnsiConsole.MarkupLine($"defrag: {d.Hosts} hosts / {d.Vms} VMs, plan {d.PlanS:0.00} s, {d.Moves} moves (lower bound {d.LowerBound})");
            }

            if (result.Preflight is { } pf)
            {
                AnsiConsole.MarkupLine($"preflight: {pf.Runs} runs, median relative error downtime {pf.DowntimeErrorP50:0.000}, total time {pf.TotalTimeErrorP50:0.000}");
            }

            AnsiConsole.MarkupLine($"targets (all hosts upgraded, 0 lost, 0 violations, ≥ 200 migrations/s, defrag ≤ 10 s, preflight errors ≤ 0.25{(result.MixedFleet ? ", every pass-through VM moved cold" : "")}): {(met ? "[green]met[/]" : "[red]MISSED[/]")}; report written to [bold]{Markup.Escape(path)}[/]");
            return met ? ExitCodes.Ok : ExitCodes.Unexpected;
        });
        return cmd;
    }
}
