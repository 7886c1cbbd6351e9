using System.CommandLine;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Errors;
using OrleansMigrate.Hypervisor.Bench;
using Spectre.Console;

namespace OrleansMigrate.Cli.Bench;

/// <summary><c>omig bench conntrack</c>: the conntrack sessions backend writing and reading entries through ctnetlink.</summary>
public static class ConntrackBenchCommand
{
    public static Command Create()
    {
        var entries = new Option<int>("--entries") { Description = "Entries per run (1-200000)", DefaultValueFactory = _ => 100_000 };
        var runs = new Option<int>("--runs") { Description = "Runs (1-50); medians are reported", DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch") { Description = "Messages per sendmsg (1-4096)", DefaultValueFactory = _ => 256 };
        var cmd = new Command("conntrack", "Conntrack entries created, dumped and deleted over ctnetlink in a namespace of its own (needs root; --json PATH, default conntrack.json)")
        {
            entries, runs, batch,
        };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var (n, r, b) = (parse.GetValue(entries), parse.GetValue(runs), parse.GetValue(batch));
            if (n is < 1 or > 200_000)
                throw OmigException.Invalid("--entries", $"must be between 1 and 200000, got {n}");
            if (r is < 1 or > 50)
                throw OmigException.Invalid("--runs", $"must be between 1 and 50, got {r}");
            if (b is < 1 or > 4096)
                throw OmigException.Invalid("--batch", $"must be between 1 and 4096, got {b}");
            var result = await ConntrackBenchmark.RunAsync(n, r, b, log: line => Console.Error.WriteLine(line), cancellationToken: ct);
            var json = Output.Json.Serialize(result);
            if (GlobalOptions.JsonToConsole(parse))
            {
                Console.Out.WriteLine(json);
                return ExitCodes.Ok;
            }

            var path = GlobalOptions.JsonPath(parse) ?? "conntrack.json";
            await File.WriteAllTextAsync(path, json, ct);
            AnsiConsole.MarkupLine($"{n} entries, {r} runs (medians): write {result.WriteEntriesPerSecondP50:0} entries/s, read {result.ReadEntriesPerSecondP50:0} entries/s, " +
                $"delete {result.DeleteEntriesPerSecondP50:0} entries/s; report written to [bold]{Markup.Escape(path)}[/]");
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
