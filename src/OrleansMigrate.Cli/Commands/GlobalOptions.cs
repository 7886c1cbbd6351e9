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
        Description = "Npgsql connection string of a PostgreSQL cluster (env OMIG_POSTGRES, preferred: a switch shows its password in the process list); discovers gateways through ADO.NET clustering",
        Recursive = true,
    };

    public static readonly Option<string?> ClusterId = new("--cluster-id")
    {
        Description = "Orleans cluster id (env OMIG_CLUSTER_ID; default omig)",
        Recursive = true,
    };

    public static readonly Option<string?> TlsCert = new("--tls-cert")
    {
        Description = "This client's certificate for mutual TLS: PKCS#12 (.pfx) or PEM with --tls-key (env OMIG_TLS_CERT)",
        Recursive = true,
        HelpName = "PATH",
    };

    public static readonly Option<string?> TlsKey = new("--tls-key")
    {
        Description = "PEM private key of a PEM --tls-cert (env OMIG_TLS_KEY)",
        Recursive = true,
        HelpName = "PATH",
    };

    public static readonly Option<string?> TlsPassword = new("--tls-password")
    {
        Description = "Password of the PKCS#12 file or encrypted key (env OMIG_TLS_PASSWORD, preferred: a switch shows in the process list)",
        Recursive = true,
    };

    public static readonly Option<string?> TlsCa = new("--tls-ca")
    {
        Description = "PEM CA the silos' certificates must chain to; turns TLS on (env OMIG_TLS_CA)",
        Recursive = true,
        HelpName = "PATH",
    };

    /// <summary>How long the CLI tries to reach a gateway before it gives up (exit 7), in seconds (1..600).</summary>
    public static readonly Option<string?> ConnectTimeout = new("--connect-timeout")
    {
        Description = "Seconds to keep trying to reach the cluster before giving up, 1-600 (env OMIG_CONNECT_TIMEOUT; default 10)",
        Recursive = true,
        HelpName = "SECONDS",
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
        root.Options.Add(TlsCert);
        root.Options.Add(TlsKey);
        root.Options.Add(TlsPassword);
        root.Options.Add(TlsCa);
        root.Options.Add(Json);
        root.Options.Add(ConnectTimeout);
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

        var connect = parse.GetValue(ConnectTimeout) ?? Environment.GetEnvironmentVariable("OMIG_CONNECT_TIMEOUT") ?? "10";
        if (!int.TryParse(connect, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var connectSeconds) || connectSeconds is < 1 or > 600)
        {
            throw Errors.OmigException.Invalid("--connect-timeout", $"'{connect}' is not a number of seconds (1-600)");
        }

        return new OmigClientOptions
        {
            ConnectTimeout = TimeSpan.FromSeconds(connectSeconds),
            GatewayPorts = ports,
            PostgresConnectionString = parse.GetValue(Postgres) ?? Environment.GetEnvironmentVariable("OMIG_POSTGRES"),
            ClusterId = parse.GetValue(ClusterId) ?? Environment.GetEnvironmentVariable("OMIG_CLUSTER_ID") ?? "omig",
            Tls = TlsOptions(parse),
        };
    }

    /// <summary>The TLS switches (or their environment variables), checked: an unreadable file is refused naming its switch.</summary>
    public static Security.OmigTlsOptions TlsOptions(ParseResult parse)
    {
        var tls = new Security.OmigTlsOptions
        {
            Certificate = Blank(parse.GetValue(TlsCert) ?? Environment.GetEnvironmentVariable("OMIG_TLS_CERT")),
            KeyFile = Blank(parse.GetValue(TlsKey) ?? Environment.GetEnvironmentVariable("OMIG_TLS_KEY")),
            Password = parse.GetValue(TlsPassword) ?? Environment.GetEnvironmentVariable("OMIG_TLS_PASSWORD"),
            CaCertificate = Blank(parse.GetValue(TlsCa) ?? Environment.GetEnvironmentVariable("OMIG_TLS_CA")),
        };
        if (tls.ClientTlsOn && tls.Check(certificateRequired: false) is [var (key, reason), ..])
        {
            throw Errors.OmigException.Invalid(key switch
            {
                nameof(Security.OmigTlsOptions.Certificate) => "--tls-cert",
                nameof(Security.OmigTlsOptions.KeyFile) => "--tls-key",
                nameof(Security.OmigTlsOptions.CaCertificate) => "--tls-ca",
                _ => "--tls-password",
            }, reason);
        }

        return tls;
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
