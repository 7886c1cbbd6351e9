using System.Collections.Immutable;
using System.CommandLine;
using System.Globalization;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Errors;
using OrleansMigrate.Hypervisor.Bench;
using Spectre.Console;

namespace OrleansMigrate.Cli.Bench;

/// <summary><c>omig bench …</c> (the <c>omig-bench</c> program): benchmarks that run in this process and write JSON for
/// run-to-run comparison.</summary>
public static class BenchCommands
{
    /// <summary>The <c>omig-bench</c> command line: the benchmarks as subcommands, and the global options.</summary>
    public static RootCommand Build()
    {
        var bench = new RootCommand("omig bench (omig-bench): benchmarks (run in Release; figures are medians and ratios measured side by side)");
        GlobalOptions.AddTo(bench);
        OmigCommandLine.AddExitCodesToHelp(bench);
        bench.Subcommands.Add(DataPlane());
        bench.Subcommands.Add(Orchestration());
        bench.Subcommands.Add(Qemu());
        bench.Subcommands.Add(Chaos());
        bench.Subcommands.Add(Campaign());
        bench.Subcommands.Add(ApiBenchCommand.Create());
        bench.Subcommands.Add(ConntrackBenchCommand.Create());
        return bench;
    }

    /// <summary>"1000" or "1000,3000,10000": each a whole number of hosts from 2 to 20,000, no repeats.</summary>
    public static ImmutableArray<int> ParseSizes(string? text)
    {
        var parts = (text ?? "").Split(',', StringSplitOptions.TrimEntries);
        var sizes = ImmutableArray.CreateBuilder<int>();
        foreach (var part in parts)
        {
            if (!int.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) || n is < 2 or > 20_000)
            {
                throw OmigException.Invalid("--hosts", $"must be a number of hosts between 2 and 20000, or several comma-separated; got '{part}' in '{text}'");
            }

            if (sizes.Contains(n))
            {
                throw OmigException.Invalid("--hosts", $"names {n} twice");
            }

            sizes.Add(n);
        }

        return sizes.ToImmutable();
    }

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
        var silos = new Option<int?>("--silos") { Description = "Run the campaign over N control silo processes (2-16) and one host silo process on PostgreSQL, kill one control silo when a third of the hosts are done, and report where the grains ran (--json PATH, default bench-results/campaign-silos.json; no defrag or preflight part)" };
        var connectionString = new Option<string?>("--connection-string") { Description = "With --silos: the PostgreSQL (Npgsql) connection string, our schema installed (deploy/postgres/create-db.sh); default $OMIG_PG_CONNSTR" };
        var siloDll = new Option<string?>("--silo-dll") { Description = "With --silos: path of omig-silo.dll (default: next to omig.dll, else the repository's Release build)" };
        var killSilo = new Option<string>("--kill-silo") { Description = "With --silos: the control silo killed a third of the way: campaign (the one holding the campaign grain), busiest (the most control-plane activations) or a name (control-2)", DefaultValueFactory = _ => "campaign" };
        var cmd = new Command("campaign", "A rolling firmware upgrade of a whole simulated fleet through the unchanged control plane (--json PATH, default campaign.json); exit 1 when a target is missed")
        {
            hosts, perHost, batch, parallel, acceleration, driver, skipDefrag, skipPreflight, doubleMoves, silos, connectionString, siloDll, killSilo,
        };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var sizes = ParseSizes(parse.GetValue(hosts));
            var options = new CampaignBenchmarkOptions(sizes[0], parse.GetValue(perHost), parse.GetValue(batch), parse.GetValue(parallel),
                parse.GetValue(acceleration), parse.GetValue(driver)!.Trim().ToLowerInvariant(), 16, !parse.GetValue(skipDefrag), !parse.GetValue(skipPreflight),
                parse.GetValue(doubleMoves));

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
                && (result.Preflight is null || (result.Preflight.DowntimeErrorP50 <= 0.25 && result.Preflight.TotalTimeErrorP50 <= 0.25));
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
            if (result.Defrag is { } d)
            {
                AnsiConsole.MarkupLine($"defrag: {d.Hosts} hosts / {d.Vms} VMs, plan {d.PlanS:0.00} s, {d.Moves} moves (lower bound {d.LowerBound})");
            }

            if (result.Preflight is { } pf)
            {
                AnsiConsole.MarkupLine($"preflight: {pf.Runs} runs, median relative error downtime {pf.DowntimeErrorP50:0.000}, total time {pf.TotalTimeErrorP50:0.000}");
            }

            AnsiConsole.MarkupLine($"targets (all hosts upgraded, 0 lost, 0 violations, ≥ 200 migrations/s, defrag ≤ 10 s, preflight errors ≤ 0.25): {(met ? "[green]met[/]" : "[red]MISSED[/]")}; report written to [bold]{Markup.Escape(path)}[/]");
            return met ? ExitCodes.Ok : ExitCodes.Unexpected;
        });
        return cmd;
    }

    private static Command Chaos()
    {
        var seed = new Option<long>("--seed") { Description = "Seed of the fault decisions", DefaultValueFactory = _ => 1 };
        var rate = new Option<double>("--fault-rate") { Description = "Probability that one component action or data-plane step faults (0-1)", DefaultValueFactory = _ => 0.05 };
        var migrations = new Option<int>("--migrations") { Description = "VM moves to request (1-100000)", DefaultValueFactory = _ => 200 };
        var concurrency = new Option<int>("--concurrency") { Description = "Moves in flight at once (1-64)", DefaultValueFactory = _ => 4 };
        var attempts = new Option<int>("--max-attempts") { Description = "Migrations tried per move before it counts as not migrated (1-20)", DefaultValueFactory = _ => 5 };
        var stuck = new Option<int>("--stuck-after-s") { Description = "A migration not ended after this many seconds counts as stuck (5-3600)", DefaultValueFactory = _ => 120 };
        var latency = new Option<double>("--latency-scale") { Description = "Factor on the simulated cloud's production latencies (0-1; 0.1 is ten times faster)", DefaultValueFactory = _ => 0.1 };
        var guest = new Option<int>("--guest-mib") { Description = "Byte-real memory of each simulated guest (1-1024 MiB)", DefaultValueFactory = _ => 8 };
        var cmd = new Command("chaos", "Migrations with seeded random faults at every seam, retried on rollback, then a full invariant audit (--json PATH, default chaos.json); exit 1 when a target is missed")
        {
            seed, rate, migrations, concurrency, attempts, stuck, latency, guest,
        };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var options = new ChaosBenchmarkOptions(parse.GetValue(seed), parse.GetValue(rate), parse.GetValue(migrations), parse.GetValue(concurrency),
                parse.GetValue(attempts), TimeSpan.FromSeconds(parse.GetValue(stuck)), parse.GetValue(latency), parse.GetValue(guest));
            if (double.IsNaN(options.FaultRate) || options.FaultRate is < 0 or > 1)
            {
                throw OmigException.Invalid("--fault-rate", $"must be between 0 and 1, got {options.FaultRate}");
            }

            if (options.Migrations is < 1 or > 100_000)
            {
                throw OmigException.Invalid("--migrations", $"must be between 1 and 100000, got {options.Migrations}");
            }

            if (options.Concurrency is < 1 or > 64)
            {
                throw OmigException.Invalid("--concurrency", $"must be between 1 and 64, got {options.Concurrency}");
            }

            if (options.MaxAttempts is < 1 or > 20)
            {
                throw OmigException.Invalid("--max-attempts", $"must be between 1 and 20, got {options.MaxAttempts}");
            }

            if (options.StuckAfter.TotalSeconds is < 5 or > 3600)
            {
                throw OmigException.Invalid("--stuck-after-s", $"must be between 5 and 3600, got {options.StuckAfter.TotalSeconds}");
            }

            if (double.IsNaN(options.LatencyScale) || options.LatencyScale is < 0 or > 1)
            {
                throw OmigException.Invalid("--latency-scale", $"must be between 0 and 1, got {options.LatencyScale}");
            }

            if (options.GuestMiB is < 1 or > 1024)
            {
                throw OmigException.Invalid("--guest-mib", $"must be between 1 and 1024, got {options.GuestMiB}");
            }

            var result = await new ChaosBenchmark(options, line => Console.Error.WriteLine(line)).RunAsync(ct);
            var json = Output.Json.Serialize(result);
            if (GlobalOptions.JsonToConsole(parse))
            {
                Console.Out.WriteLine(json);
                return result.MeetsTargets ? ExitCodes.Ok : ExitCodes.Unexpected;
            }

            var path = GlobalOptions.JsonPath(parse) ?? "chaos.json";
            await File.WriteAllTextAsync(path, json, ct);
            var table = new Table().Border(TableBorder.Rounded).AddColumns("MOVES", "MIGRATED", "ATTEMPTS", "COMPLETED", "ROLLED BACK", "FAILED", "STUCK", "FAULTS", "VIOLATIONS");
            table.AddRow($"{result.Migrations}", $"{result.VmsMigratedAfterRetriesRatio:P1}", $"{result.Attempts}", $"{result.Completed}", $"{result.RolledBack}", $"{result.Failed}",
                $"{result.Stuck}", $"{result.FaultsInjected} of {result.FaultStepCalls} steps", $"{result.InvariantViolations}");
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"seed {result.Seed}, fault rate {result.FaultRate}, {result.WallS:0.0} s; targets (0 violations, 0 stuck, ≥ 99 % migrated): {(result.MeetsTargets ? "[green]met[/]" : "[red]MISSED[/]")}; report written to [bold]{Markup.Escape(path)}[/]");
            return result.MeetsTargets ? ExitCodes.Ok : ExitCodes.Unexpected;
        });
        return cmd;
    }

    private static Command Qemu()
    {
        var runs = new Option<int>("--runs") { Description = "Migrations per mode (1-200)", DefaultValueFactory = _ => 10 };
        var image = new Option<string?>("--image") { Description = "Guest image (default: build guest/dirty-guest.S with guest/build.sh, --guest-pages and --guest-delay)" };
        var pages = new Option<int>("--guest-pages") { Description = "4 KiB pages the built guest dirties (1-65536)", DefaultValueFactory = _ => 16384 };
        var delay = new Option<int>("--guest-delay") { Description = "Busy-loop iterations between two page writes of the built guest (1-100000000; lower dirties faster)", DefaultValueFactory = _ => 2000 };
        var memory = new Option<int>("--memory") { Description = "Guest memory, MiB (64-4096)", DefaultValueFactory = _ => 128 };
        var warm = new Option<int>("--warm-ms") { Description = "How long each fresh guest dirties memory before it migrates, ms (100-60000)", DefaultValueFactory = _ => 1500 };
        var priority = new Option<string>("--qemu-priority") { Description = "QEMU process priority for both modes: normal, above-normal or high (root)", DefaultValueFactory = _ => "normal" };
        var accel = new Option<string>("--accel") { Description = "auto (KVM when /dev/kvm opens and runs the probe guest at speed, else TCG), kvm or tcg", DefaultValueFactory = _ => "auto" };
        var idle = new Option<bool>("--idle") { Description = "An almost idle guest (256 pages, one written every 100,000,000 loop iterations): what the orchestration adds when QEMU's own downtime is smallest" };
        var housekeepingCpus = new Option<string?>("--housekeeping-cpus") { Description = "Pin this process (the host silo) and QEMU's emulator threads to these CPUs, e.g. 0 (default: unpinned)" };
        var vcpuCpus = new Option<string?>("--vcpu-cpus") { Description = "Pin the guests' vCPU threads to these CPUs, e.g. 1 (default: unpinned)" };
        var cmd = new Command("qemu", "Real QEMU: plain QMP migration vs the full orchestrated migration of the same guest, alternating (--json PATH, default qemu.json)") { runs, image, pages, delay, memory, warm, priority, accel, idle, housekeepingCpus, vcpuCpus };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var (n, mib, warmMs) = (parse.GetValue(runs), parse.GetValue(memory), parse.GetValue(warm));
            if (n is < 1 or > 200)
            {
                throw OmigException.Invalid("--runs", $"must be between 1 and 200, got {n}");
            }

            if (mib is < 64 or > 4096)
            {
                throw OmigException.Invalid("--memory", $"must be between 64 and 4096 MiB, got {mib}");
            }

            if (warmMs is < 100 or > 60_000)
            {
                throw OmigException.Invalid("--warm-ms", $"must be between 100 and 60000, got {warmMs}");
            }

            var (guestPages, guestDelay) = (parse.GetValue(pages), parse.GetValue(delay));
            if (parse.GetValue(idle))
            {
                if (parse.GetResult(pages) is { Implicit: false } || parse.GetResult(delay) is { Implicit: false } || parse.GetValue(image) is not null)
                {
                    throw OmigException.Invalid("--idle", "cannot be combined with --guest-pages, --guest-delay or --image");
                }

                (guestPages, guestDelay) = (256, 100_000_000);
            }

            if (guestPages is < 1 or > 65536)
            {
                throw OmigException.Invalid("--guest-pages", $"must be between 1 and 65536, got {guestPages}");
            }

            if (guestDelay is < 1 or > 100_000_000)
            {
                throw OmigException.Invalid("--guest-delay", $"must be between 1 and 100000000, got {guestDelay}");
            }

            if (mib * 256L < guestPages + 512)
            {
                throw OmigException.Invalid("--memory", $"{mib} MiB cannot hold the guest's {guestPages} pages above 1 MiB");
            }

            var guest = parse.GetValue(image) is { } given ? Path.GetFullPath(given) : await GuestImage.BuildAsync(guestPages, guestDelay, ct);
            if (!File.Exists(guest))
            {
                throw OmigException.Invalid("--image", $"'{guest}' does not exist");
            }

            var prio = parse.GetValue(priority)!;
            if (prio is not ("normal" or "above-normal" or "high"))
            {
                throw OmigException.Invalid("--qemu-priority", $"must be normal, above-normal or high, got '{prio}'");
            }

            var accelerator = parse.GetValue(accel)!;
            if (accelerator is not ("auto" or "kvm" or "tcg"))
            {
                throw OmigException.Invalid("--accel", $"must be auto, kvm or tcg, got '{accelerator}'");
            }

            var description = parse.GetValue(image) is null
                ? $"guest/dirty-guest.S: {guestPages} pages ({guestPages * 4 / 1024.0:0.#} MiB) dirtied in turn, {guestDelay} loop iterations between pages"
                : guest;
            Hypervisor.CpuSet? Cpus(Option<string?> option)
            {
                try
                {
                    return parse.GetValue(option) is { } text ? Hypervisor.CpuSet.Parse(text, option.Name, Environment.ProcessorCount) : null;
                }
                catch (ArgumentException ex)
                {
                    throw OmigException.Invalid(option.Name, ex.Message[(option.Name.Length + 2)..].Replace($" (Parameter '{option.Name}')", "", StringComparison.Ordinal));
                }
            }

            var (housekeeping, vcpus) = (Cpus(housekeepingCpus), Cpus(vcpuCpus));
            var result = await new QemuBenchmark(n, guest, description, mib, warmMs, prio, accelerator, line => Console.Error.WriteLine(line), housekeeping, vcpus).RunAsync(ct);
            var json = Output.Json.Serialize(result);
            if (GlobalOptions.JsonToConsole(parse))
            {
                Console.Out.WriteLine(json);
                return result.Consistent ? ExitCodes.Ok : ExitCodes.Unexpected;
            }

            var path = GlobalOptions.JsonPath(parse) ?? "qemu.json";
            await File.WriteAllTextAsync(path, json, ct);
            var table = new Table().Border(TableBorder.Rounded).AddColumns("MODE", "QEMU DOWNTIME p50", "p99", "GUEST-VISIBLE p50", "p99", "TOTAL p50", "GUESTS CHECKED");
            foreach (var (name, m) in new[] { ("plain QMP", result.Plain), ("orchestrated", result.Orchestrated) })
            {
                table.AddRow(name, $"{m.DowntimeMsP50:0.00} ms", $"{m.DowntimeMsP99:0.00} ms", $"{m.GuestVisibleMsP50:0.00} ms", $"{m.GuestVisibleMsP99:0.00} ms", $"{m.TotalMsP50:0} ms",
                    $"{m.GuestsConsistent} consistent, {m.GuestsInconsistent} inconsistent, {m.GuestsNotChecked} not checked");
            }

            AnsiConsole.Write(table);
            foreach (var problem in result.Plain.GuestCheckProblems.Concat(result.Orchestrated.GuestCheckProblems).Distinct())
            {
                AnsiConsole.MarkupLine($"[red]guest check:[/] {Markup.Escape(problem)}");
            }

            AnsiConsole.MarkupLine($"accelerator {Markup.Escape(result.Accelerator)} ({Markup.Escape(result.AcceleratorReason)}); ratio p50 {result.RatioP50:0.000} (QEMU-reported), {result.GuestVisibleRatioP50:0.000} (guest-visible); " +
                $"every guest checked and consistent: {(result.Consistent ? "yes" : "no")}; report written to [bold]{Markup.Escape(path)}[/]");
            return result.Consistent ? ExitCodes.Ok : ExitCodes.Unexpected;
        });
        return cmd;
    }

    private static Command Orchestration()
    {
        var runs = new Option<int>("--runs") { Description = "Migrations per mode (1-200)", DefaultValueFactory = _ => 20 };
        var guest = new Option<int>("--guest-mib") { Description = "Byte-real memory of each simulated guest (8-4096 MiB)", DefaultValueFactory = _ => 64 };
        var dirty = new Option<int>("--dirty-mbps") { Description = "Guest dirty rate, MB/s (0-2000)", DefaultValueFactory = _ => 20 };
        var concurrent = new Option<int?>("--concurrent")
        {
            Description = "Instead: N VMs migrated at once between two hosts, back and forth; --runs is the number of rounds (2-64)",
        };
        var cmd = new Command("orchestration", "Serial vs parallel orchestration of the same fleet with a 1 ms packet generator (--json PATH, default orchestration.json)") { runs, guest, dirty, concurrent };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var (n, g, d) = (parse.GetValue(runs), parse.GetValue(guest), parse.GetValue(dirty));
            if (n is < 1 or > 200)
            {
                throw OmigException.Invalid("--runs", $"must be between 1 and 200, got {n}");
            }

            if (g is < 8 or > 4096)
            {
                throw OmigException.Invalid("--guest-mib", $"must be between 8 and 4096, got {g}");
            }

            if (d is < 0 or > 2000)
            {
                throw OmigException.Invalid("--dirty-mbps", $"must be between 0 and 2000, got {d}");
            }

            if (parse.GetValue(concurrent) is { } c)
            {
                if (c is < 2 or > 64)
                {
                    throw OmigException.Invalid("--concurrent", $"must be between 2 and 64, got {c}");
                }

                return await ConcurrentAsync(parse, new OrchestrationBenchmark(n, g, d, line => Console.Error.WriteLine(line)), c, ct);
            }

            var result = await new OrchestrationBenchmark(n, g, d, line => Console.Error.WriteLine(line)).RunAsync(ct);
            var json = Output.Json.Serialize(result);
            if (GlobalOptions.JsonToConsole(parse))
            {
                Console.Out.WriteLine(json);
                return ExitCodes.Ok;
            }

            var path = GlobalOptions.JsonPath(parse) ?? "orchestration.json";
            await File.WriteAllTextAsync(path, json, ct);
            var table = new Table().Border(TableBorder.Rounded).AddColumns("MODE", "RUNS", "DOWNTIME p50", "DOWNTIME p99", "PACKETS LOST", "TOTAL p50", "COMPLETED", "ROLLED BACK");
            foreach (var m in result.Modes)
            {
                table.AddRow(m.Mode, $"{m.Runs}", $"{m.DowntimeMsP50:0.00} ms", $"{m.DowntimeMsP99:0.00} ms", $"{m.PacketsLostTotal} of {m.PacketsSentTotal}",
                    $"{m.TotalMsP50:0} ms", $"{m.Completed}", $"{m.RolledBack}");
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"data plane alone: downtime p50 {result.DataplaneDowntimeMsP50:0.00} ms; serial/parallel downtime ratio {result.SerialOverParallelDowntimeRatio:0.0}; report written to [bold]{Markup.Escape(path)}[/]");
            return result.Modes.All(m => m.Completed == m.Runs) ? ExitCodes.Ok : ExitCodes.Unexpected;
        });
        return cmd;
    }

    private static async Task<int> ConcurrentAsync(ParseResult parse, OrchestrationBenchmark bench, int concurrent, CancellationToken ct)
    {
        var result = await bench.RunConcurrentAsync(concurrent, ct);
        var json = Output.Json.Serialize(result);
        if (GlobalOptions.JsonToConsole(parse))
        {
            Console.Out.WriteLine(json);
        }
        else
        {
            var path = GlobalOptions.JsonPath(parse) ?? "orchestration-concurrent.json";
            await File.WriteAllTextAsync(path, json, ct);
            AnsiConsole.MarkupLine($"{concurrent} concurrent migrations, {result.Rounds} rounds: downtime p50 {result.MedianRoundDowntimeMsP50:0.00} ms, " +
                $"p99 {result.MedianRoundDowntimeMsP99:0.00} ms (medians over rounds); report written to [bold]{Markup.Escape(path)}[/]");
        }

        return result.PerRound.All(r => r.Completed == r.Migrations) ? ExitCodes.Ok : ExitCodes.Unexpected;
    }

    private static Command DataPlane()
    {
        var runs = new Option<int>("--runs") { Description = "Runs per case (1-100)", DefaultValueFactory = _ => 5 };
        var surgeRuns = new Option<int>("--surge-runs") { Description = "Runs of each surge case (1-200)", DefaultValueFactory = _ => 20 };
        var cases = new Option<string?>("--cases") { Description = "Only these cases: names, comma-separated; a trailing * matches a prefix (surge*)" };
        var guest = new Option<int?>("--guest-mib") { Description = "Override the guest size of every case (MiB), for quick runs" };
        var cmd = new Command("dataplane", "Simulated-hypervisor data plane: pre-copy, pre-last-copy, compression, session tables (--json PATH, default dataplane.json)") { runs, surgeRuns, cases, guest };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var options = new DataPlaneBenchmarkOptions
            {
                RunsPerCase = parse.GetValue(runs),
                SurgeRuns = parse.GetValue(surgeRuns),
                CaseFilter = parse.GetValue(cases),
                GuestMiBOverride = parse.GetValue(guest),
                OutputPath = GlobalOptions.JsonPath(parse) ?? "dataplane.json",
                Log = line => Console.Error.WriteLine(line),
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentException ex)
            {
                throw OmigException.Invalid(ex.ParamName ?? "options", ex.Message);
            }

            var result = await DataPlaneBenchmark.RunAsync(options, ct);
            if (GlobalOptions.JsonToConsole(parse))
            {
                Console.Out.WriteLine(DataPlaneBenchmark.ToJson(result));
            }
            else
            {
                var table = new Table().Border(TableBorder.Rounded)
                    .AddColumns("CASE", "GUEST MiB", "DIRTY MB/s", "LINK MB/s", "COMPRESSION", "PLC", "RUNS", "DOWNTIME p50", "DOWNTIME p99", "TOTAL p50", "CPU s", "CONSISTENT");
                foreach (var c in result.Cases)
                {
                    table.AddRow(c.Case, $"{c.GuestMiB}", $"{c.DirtyMBps:0}", $"{c.LinkMBps:0}", c.Compression, c.PreLastCopy ? "on" : "off", $"{c.Runs}",
                        $"{c.DowntimeMsP50:0.00} ms", $"{c.DowntimeMsP99:0.00} ms", $"{c.TotalMsP50:0} ms", $"{c.CpuSeconds:0.0000}", c.Consistent ? "[green]yes[/]" : "[red]NO[/]");
                }

                AnsiConsole.Write(table);
                AnsiConsole.MarkupLine($"report written to [bold]{Markup.Escape(options.OutputPath!)}[/]");
            }

            return result.Cases.All(c => c.Consistent) ? ExitCodes.Ok : ExitCodes.Unexpected;
        });
        return cmd;
    }
}
