using System.CommandLine;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Errors;
using Spectre.Console;

namespace OrleansMigrate.Cli.Bench;

/// <summary><c>omig bench chaos</c>, <c>qemu</c> and <c>orchestration</c>: migrations under faults, of real QEMU guests, and the
/// orchestration's own cost.</summary>
public static partial class BenchCommands
{
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

            var (guestPages, guestDelay) = (parse.GetValue(pages), parse.GetValue(delay));
            if (parse.GetValue(idle))
            {
                if (parse.GetResult(pages) is { Implicit: false } || parse.GetResult(delay) is { Implicit: false } || parse.GetValue(image) is not null)
                {
                    throw OmigException.Invalid("--idle", "cannot be combined with --guest-pages, --guest-delay or --image");
                }

                (guestPages, guestDelay) = (256, 100_000_000);
            }

            var accelerator = parse.GetValue(accel)!;
            CheckGuest(mib, warmMs, guestPages, guestDelay, accelerator);
            var prio = parse.GetValue(priority)!;
            if (prio is not ("normal" or "above-normal" or "high"))
            {
                throw OmigException.Invalid("--qemu-priority", $"must be normal, above-normal or high, got '{prio}'");
            }

            var (guest, description) = await GuestAsync(parse.GetValue(image), guestPages, guestDelay, ct);
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
}
