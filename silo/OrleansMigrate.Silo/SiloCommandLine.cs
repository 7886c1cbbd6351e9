namespace OrleansMigrate.Silo;

/// <summary>Short switches for the silo's options, and a check that refuses anything else.</summary>
public static class SiloCommandLine
{
    public static readonly IReadOnlyDictionary<string, string> Switches = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["--role"] = "Omig:Role",
        ["--hosts"] = "Omig:Hosts",
        ["--name"] = "Omig:Name",
        ["--storage"] = "Omig:Storage",
        ["--connection-string"] = "Omig:ConnectionString",
        ["--connection-string-file"] = "Omig:ConnectionStringFile",
        ["--database-wait"] = "Omig:DatabaseWaitSeconds",
        ["--database-max-connections"] = "Omig:DatabaseMaxConnections",
        ["--cluster-id"] = "Omig:ClusterId",
        ["--service-id"] = "Omig:ServiceId",
        ["--silo-port"] = "Omig:SiloPort",
        ["--gateway-port"] = "Omig:GatewayPort",
        ["--address"] = "Omig:AdvertisedAddress",
        ["--driver"] = "Omig:Driver",
        ["--qemu-binary"] = "Omig:Qemu:Binary",
        ["--qemu-image-dir"] = "Omig:Qemu:ImageDirectories:0",
        ["--qemu-runtime-dir"] = "Omig:Qemu:RuntimeDirectory",
        ["--accel"] = "Omig:Qemu:Accelerator",
        ["--housekeeping-cpus"] = "Omig:HousekeepingCpus",
        ["--emulator-cpus"] = "Omig:Qemu:EmulatorCpus",
        ["--vcpu-cpus"] = "Omig:Qemu:VcpuCpus",
        ["--fault-rate"] = "Omig:Faults:Rate",
        ["--fault-seed"] = "Omig:Faults:Seed",
        ["--fault-steps"] = "Omig:Faults:Steps",
        ["--telemetry"] = "Omig:Telemetry",
        ["--otlp-endpoint"] = "Omig:OtlpEndpoint",
        ["--audit-interval"] = "Omig:AuditIntervalSeconds",
        ["--tls-cert"] = "Omig:Tls:Certificate",
        ["--tls-key"] = "Omig:Tls:KeyFile",
        ["--tls-password"] = "Omig:Tls:Password",
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

    /// <summary>The arguments with every flag replaced by the setting it stands for.</summary>
    public static string[] ExpandFlags(string[] args) => [.. args.Select(a => Flags.TryGetValue(a, out var setting) ? setting : a)];

    /// <summary>What <c>omig-silo --help</c> prints.</summary>
    public const string Help = """
        omig-silo: an OrleansMigrate silo (control plane, host agents, or both).

        usage: omig-silo [--switch value | --Omig:Key=value] ...
        Every setting is also read from appsettings.json and the environment (Omig__Key, e.g. Omig__ConnectionString).

          --role control|host|all        what this silo runs (default all)
          --hosts h-1,h-2                the hypervisor hosts a host silo serves
          --name NAME                    silo name (default the machine's)
          --storage memory|postgres      in-memory (one silo) or PostgreSQL (a real cluster)
          --connection-string-file PATH  file (mode 0600) holding the Npgsql connection string: preferred
          --connection-string CS         the connection string itself: AVOID, every local user reads it (and its password)
                                         from the process list; use the file or the environment (Omig__ConnectionString)
          --database-wait SECONDS        how long a starting silo waits for a down or recovering database (default 300)
          --database-max-connections N   connections this silo opens to PostgreSQL at most (default 20)
          --cluster-id ID, --service-id ID
          --silo-port N, --gateway-port N, --address IP
          --driver simulated|analytic|qemu, --qemu-binary PATH, --qemu-image-dir DIR, --qemu-runtime-dir DIR, --accel auto|kvm|tcg
          --housekeeping-cpus 0-1, --emulator-cpus 0-1, --vcpu-cpus 2-7
                                         pin this silo, QEMU's emulator threads and the guests' vCPUs (default: unpinned)
          --fault-rate R, --fault-seed N, --fault-steps a,b
          --telemetry none|console|otlp, --otlp-endpoint URL, --audit-interval SECONDS
          --tls-cert PATH, --tls-key PATH, --tls-ca PATH   mutual TLS (deploy/tls/README.md)
          --tls-password-file PATH       file (mode 0600) holding the certificate password: preferred
          --tls-password PW              the password itself: AVOID, it shows in the process list; use the file or
                                         the environment (Omig__Tls__Password)
          --api-port N                   serve the HTTP API (/v1, /openapi/v1.json, /scalar) on port N; off by default;
                                         control or all role only. Keys: OmigApi:Keys:I:Name|Sha256|Role (role viewer,
                                         cloud-service or operator; Sha256 = hex SHA-256 of the bearer key), e.g. in
                                         appsettings.json or OmigApi__Keys__0__Sha256; without a key the silo refuses to
                                         start unless --api-insecure-no-auth is given
          --api-address IP               the address the API listens on (default 127.0.0.1)
          --api-insecure-no-auth         serve the API without authentication: every caller is an operator
          --api-insecure-http            serve the API over plain HTTP although the silo runs TLS (with --tls-cert the
                                         API serves HTTPS with the silo's certificate; without this switch no HTTP)
          --api-metrics-anonymous        serve /metrics (Prometheus) without credentials; otherwise it needs the viewer role.
                                         JWT: OmigApi:Jwt:Issuer|Audience|SigningKeyFile|Authority|RoleClaim; rate limit:
                                         OmigApi:RateLimit:RequestsPerSecond|Burst (see the README's HTTP API section)
          --dashboard                    run the Orleans dashboard's grains and grain-call profiler (Omig:Dashboard; off by
                                         default: the profiler wraps every grain call and costs throughput). With
                                         --api-port the API serves it at /dashboard/ to operators (session: POST /v1/session);
                                         every silo of the cluster needs it for the dashboard to work

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
                errors.Add($"{arg}: unknown argument; known: {string.Join(", ", Switches.Keys)} or --Section:Key=value");
            }
        }

        return errors;
    }
}
