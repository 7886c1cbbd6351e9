using System.CommandLine;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Errors;
using OrleansMigrate.Hypervisor.Bench;
using Spectre.Console;

namespace OrleansMigrate.Cli.Bench;

/// <summary><c>omig bench dataplane</c>: the pre-copy data plane on its own, in this process.</summary>
public static partial class BenchCommands
{
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
