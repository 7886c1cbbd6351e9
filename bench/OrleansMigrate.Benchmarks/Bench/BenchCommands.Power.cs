using System.CommandLine;
using OrleansMigrate.Cli.Commands;
using Spectre.Console;

namespace OrleansMigrate.Cli.Bench;

/// <summary><c>omig bench power</c>.</summary>
public static partial class BenchCommands
{
    private static Command Power()
    {
        var hosts = new Option<int>("--hosts") { Description = "Hosts in the simulated fleet (2-20000), 40 to a rack", DefaultValueFactory = _ => 1000 };
        var perHost = new Option<int>("--vms-per-host") { Description = "VMs per host (1-30)", DefaultValueFactory = _ => 10 };
        var headroom = new Option<int>("--headroom") { Description = "Percent of cores and memory kept free in every rack (0-90)", DefaultValueFactory = _ => 20 };
        var acceleration = new Option<double>("--acceleration") { Description = "Modelled time runs this many times faster (1-1000000)", DefaultValueFactory = _ => 1000 };
        var cmd = new Command("power", "Plan and apply a power plan on a whole simulated fleet (analytic driver); every figure read back after (--json PATH, default bench-results/power.json); exit 1 when a target is missed")
        {
            hosts, perHost, headroom, acceleration,
        };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var options = new PowerBenchmarkOptions(parse.GetValue(hosts), parse.GetValue(perHost), parse.GetValue(headroom), parse.GetValue(acceleration));
            options.Validate();
            var result = await new PowerBenchmark(options, line => Console.Error.WriteLine(line)).RunAsync(ct);
            var json = Output.Json.Serialize(result);
            var code = result.TargetsMet ? ExitCodes.Ok : ExitCodes.Unexpected;
            if (GlobalOptions.JsonToConsole(parse))
            {
                Console.Out.WriteLine(json);
                return code;
            }

            var path = GlobalOptions.JsonPath(parse) ?? Path.Combine("bench-results", "power.json");
            if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir)
            {
                Directory.CreateDirectory(dir);
            }

            await File.WriteAllTextAsync(path, json, ct);
            var table = new Table().Border(TableBorder.Rounded).AddColumns("HOSTS", "VMS", "FREED", "BOUND", "MOVES", "PLAN", "OFF", "HEADROOM VIOLATIONS", "LOST", "INVARIANTS", "APPLY");
            table.AddRow($"{result.Hosts}", $"{result.Vms}", $"{result.HostsFreed}", $"{result.Bound}", $"{result.Moves}", $"{result.PlanS:0.00} s", $"{result.HostsPoweredOff}",
                $"{result.HeadroomViolations}", $"{result.VmsLost}", $"{result.InvariantViolations}", $"{result.ApplyS:0.0} s");
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"targets (plan ≤ 10 s, freed ≥ 90 % of the bound, all off, 0 violations, 0 lost): {(result.TargetsMet ? "[green]met[/]" : "[red]MISSED[/]")}; report written to [bold]{Markup.Escape(path)}[/]");
            return code;
        });
        return cmd;
    }
}
