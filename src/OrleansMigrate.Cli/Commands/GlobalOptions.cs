using System.CommandLine;
using OrleansMigrate.Client;

namespace OrleansMigrate.Cli.Commands;

/// <summary>Options every command takes: where the cluster is, and the output format.</summary>
public static class GlobalOptions
{
    public static readonly Option<string?> Gateway = new("--gateway")
    {
        Description = "Localhost gateway port(s) of an embedded cluster, comma-separated (env OMIG_GATEWAY; default 30000)",
        Recursive = true,
    };

    public static readonly Option<string?> Postgres = new("--postgres")
    {
        Description = "Npgsql connection string of a PostgreSQL cluster (env OMIG_POSTGRES); discovers gateways through ADO.NET clustering",
        Recursive = true,
    };

    public static readonly Option<string?> ClusterId = new("--cluster-id")
    {
        Description = "Orleans cluster id (env OMIG_CLUSTER_ID; default omig)",
        Recursive = true,
    };

    /// <summary><c>--json</c> prints JSON instead of tables; <c>--json PATH</c> writes it to PATH (demo and
    /// benchmarks keep their tables on the console then). Put it after the command's arguments.</summary>
    public static readonly Option<string?> Json = new("--json")
    {
        Description = "Print JSON instead of tables, or with PATH write the JSON report there",
        Recursive = true,
        Arity = ArgumentArity.ZeroOrOne,
        HelpName = "PATH",
    };

    /// <summary>True when JSON goes to standard output (<c>--json</c> without a path).</summary>
    public static bool JsonToConsole(ParseResult parse) => parse.GetResult(Json) is not null && string.IsNullOrEmpty(parse.GetValue(Json));

    /// <summary>The path of <c>--json PATH</c>, or null.</summary>
    public static string? JsonPath(ParseResult parse) => parse.GetValue(Json) is { Length: > 0 } path ? path : null;

    public static void AddTo(RootCommand root)
    {
        root.Options.Add(Gateway);
        root.Options.Add(Postgres);
        root.Options.Add(ClusterId);
        root.Options.Add(Json);
    }

    public static OmigClientOptions ClientOptions(ParseResult parse)
    {
        var gateway = parse.GetValue(Gateway) ?? Environment.GetEnvironmentVariable("OMIG_GATEWAY") ?? "30000";
        var ports = new List<int>();
        foreach (var part in gateway.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, System.Globalization.CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                throw Errors.OmigException.Invalid("--gateway", $"'{part}' is not a port (1-65535)");
            }

            ports.Add(port);
        }

        return new OmigClientOptions
        {
            GatewayPorts = ports,
            PostgresConnectionString = parse.GetValue(Postgres) ?? Environment.GetEnvironmentVariable("OMIG_POSTGRES"),
            ClusterId = parse.GetValue(ClusterId) ?? Environment.GetEnvironmentVariable("OMIG_CLUSTER_ID") ?? "omig",
        };
    }
}
