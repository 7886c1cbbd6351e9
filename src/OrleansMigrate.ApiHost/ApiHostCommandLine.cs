namespace OrleansMigrate.ApiHost;

/// <summary>omig-api's switches (the silo's names where they mean the same), and a check that refuses anything else.</summary>
public static class ApiHostCommandLine
{
    public static readonly IReadOnlyDictionary<string, string> Switches = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["--gateway"] = "Omig:Gateways",
        ["--connection-string-file"] = "Omig:ConnectionStringFile",
        ["--cluster-id"] = "Omig:ClusterId",
        ["--service-id"] = "Omig:ServiceId",
        ["--connect-timeout"] = "Omig:ConnectTimeoutSeconds",
        ["--tls-cert"] = "Omig:Tls:Certificate",
        ["--tls-key"] = "Omig:Tls:KeyFile",
        ["--tls-password-file"] = "Omig:Tls:PasswordFile",
        ["--tls-ca"] = "Omig:Tls:CaCertificate",
        ["--api-port"] = "OmigApi:Port",
        ["--api-address"] = "OmigApi:Address",
    };

    /// <summary>Switches without a value, rewritten to a setting before anything else reads the arguments.</summary>
    public static readonly IReadOnlyDictionary<string, string> Flags = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["--api-insecure-no-auth"] = "--OmigApi:InsecureNoAuth=true",
        ["--api-metrics-anonymous"] = "--OmigApi:MetricsAnonymous=true",
        ["--api-insecure-http"] = "--OmigApi:InsecureHttp=true",
        ["--dashboard"] = "--Omig:Dashboard=true",
    };

    public static string[] ExpandFlags(string[] args) => [.. args.Select(a => Flags.TryGetValue(a, out var setting) ? setting : a)];

    public const string Help = """
        omig-api: the OrleansMigrate HTTP API (/v1, /console, /metrics, /openapi/v1.json, /scalar) as its own process,
        an Orleans client of a running cluster. Its idempotency keys and audit log live in the cluster's control silos.

        usage: omig-api --api-port N [--switch value | --Section:Key=value] ...
        Every setting is also read from appsettings.json and the environment (Omig__ConnectionString, OmigApi__Keys__0__Sha256).

          --api-port N                   the port to serve on (required)
          --api-address IP               the address to listen on (default 127.0.0.1)
          --gateway 30000,30001          the cluster's gateway ports on this machine (default 30000), when not PostgreSQL
          --connection-string-file PATH  file (mode 0600) holding the cluster's Npgsql connection string: gateways are
                                         found through PostgreSQL clustering (or Omig__ConnectionString in the environment)
          --cluster-id ID, --service-id ID   as the silos' (default omig, orleansmigrate)
          --connect-timeout SECONDS      how long to wait for a gateway at start (default 30)
          --tls-cert PATH, --tls-key PATH, --tls-ca PATH   mutual TLS to the gateways (deploy/tls/README.md); with a
                                         certificate the API port serves HTTPS with it
          --tls-password-file PATH       file (mode 0600) holding the certificate password (or Omig__Tls__Password)
          --api-insecure-http            serve plain HTTP although the cluster runs TLS (refused otherwise)
          --api-insecure-no-auth         serve the API without authentication: every caller is an operator
          --api-metrics-anonymous        serve /metrics without credentials
          --dashboard                    serve the Orleans dashboard at /dashboard/ to operators (Omig:Dashboard; session:
                                         POST /v1/session). Works only when every silo runs with omig-silo --dashboard;
                                         otherwise its pages answer 503 saying so
          Keys: OmigApi:Keys:I:Name|Sha256|Role; JWT: OmigApi:Jwt:…; rate limit: OmigApi:RateLimit:… (as omig-silo's)

        Exit codes: 0 stopped cleanly, 1 failed to start (one line on stderr says why), 2 invalid arguments or configuration.

        """;

    /// <summary>Errors for arguments that are neither a known switch with a value nor a <c>--Section:Key=value</c> setting.</summary>
    public static List<string> Check(string[] args)
    {
        var errors = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            var name = arg.Split('=', 2)[0];
            if (Switches.ContainsKey(name))
            {
                if (!arg.Contains('=') && (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal)))
                {
                    errors.Add($"{name}: needs a value");
                }
                else if (!arg.Contains('='))
                {
                    i++;
                }
            }
            else if (name.StartsWith("--", StringComparison.Ordinal) && name.Contains(':'))
            {
                if (!arg.Contains('='))
                {
                    i++;
                }
            }
            else
            {
                errors.Add($"{arg}: unknown argument; known: {string.Join(", ", Switches.Keys.Concat(Flags.Keys))} or --Section:Key=value");
            }
        }

        return errors;
    }
}
