using System.CommandLine;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Errors;
using Spectre.Console;

namespace OrleansMigrate.Cli.Bench;

/// <summary><c>omig bench api</c>: the HTTP API against the .NET client on an embedded cluster (see <see cref="ApiBenchmark"/>).
/// Targets (get-vm over HTTP: p99 ≤ 10 ms, ≥ 5,000 req/s, 0 errors, ≤ 1 ms p50 over the client) decide the exit code.</summary>
public static class ApiBenchCommand
{
    public static Command Create()
    {
        var hosts = new Option<int>("--hosts") { Description = "Hosts in the simulated fleet (1-20000)", DefaultValueFactory = _ => 1000 };
        var perHost = new Option<int>("--vms-per-host") { Description = "VMs per host (1-30)", DefaultValueFactory = _ => 20 };
        var clients = new Option<int>("--clients") { Description = "Concurrent callers (1-256)", DefaultValueFactory = _ => 8 };
        var duration = new Option<double>("--duration-s") { Description = "Seconds measured per call and transport (0.1-600)", DefaultValueFactory = _ => 10 };
        var cmd = new Command("api", "The HTTP API against the .NET client: get-vm, list-vms, migrate with N concurrent callers (--json PATH, default api.json); exit 1 when a get-vm target is missed")
        {
            hosts, perHost, clients, duration,
        };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var options = new ApiBenchmarkOptions(parse.GetValue(hosts), parse.GetValue(perHost), parse.GetValue(clients), parse.GetValue(duration));
            if (options.Hosts is < 1 or > 20_000)
            {
                throw OmigException.Invalid("--hosts", $"must be between 1 and 20000, got {options.Hosts}");
            }

            if (options.VmsPerHost is < 1 or > 30)
            {
                throw OmigException.Invalid("--vms-per-host", $"must be between 1 and 30, got {options.VmsPerHost}");
            }

            if (options.Clients is < 1 or > 256)
            {
                throw OmigException.Invalid("--clients", $"must be between 1 and 256, got {options.Clients}");
            }

            if (double.IsNaN(options.DurationS) || options.DurationS is < 0.1 or > 600)
            {
                throw OmigException.Invalid("--duration-s", $"must be between 0.1 and 600, got {options.DurationS}");
            }

            var result = await new ApiBenchmark(options, line => Console.Error.WriteLine(line)).RunAsync(ct);
            var json = Output.Json.Serialize(result);
            var http = result.Calls.First(c => c is { Call: "get-vm", Transport: "http" });
            var direct = result.Calls.First(c => c is { Call: "get-vm", Transport: "client" });
            var met = http.Errors == 0 && http.P99Ms <= 10 && http.RequestsPerS >= 5000 && http.P50Ms - direct.P50Ms <= 1;
            if (GlobalOptions.JsonToConsole(parse))
            {
                Console.Out.WriteLine(json);
                return met ? ExitCodes.Ok : ExitCodes.Unexpected;
            }

            var path = GlobalOptions.JsonPath(parse) ?? "api.json";
            await File.WriteAllTextAsync(path, json, ct);
            var table = new Table().Border(TableBorder.Rounded).AddColumns("CALL", "TRANSPORT", "REQUESTS", "ERRORS", "PER SECOND", "P50", "P99");
            foreach (var c in result.Calls)
            {
                table.AddRow(c.Call, c.Transport, $"{c.Requests}", $"{c.Errors}", $"{c.RequestsPerS:0.0}", $"{c.P50Ms:0.000} ms", $"{c.P99Ms:0.000} ms");
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"targets (get-vm over HTTP: p99 ≤ 10 ms, ≥ 5000/s, 0 errors, ≤ 1 ms p50 over the client): {(met ? "[green]met[/]" : "[red]MISSED[/]")}; report written to [bold]{Markup.Escape(path)}[/]");
            return met ? ExitCodes.Ok : ExitCodes.Unexpected;
        });
        return cmd;
    }
}
