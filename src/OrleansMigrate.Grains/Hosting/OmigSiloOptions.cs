namespace OrleansMigrate.Grains.Hosting;

/// <summary>
/// Silo settings, section <c>Omig</c> of appsettings.json, environment (<c>Omig__Role=host</c>) or the
/// command line (<c>--role host</c>). Validated at start by <see cref="OmigSiloOptionsValidator"/>.
/// </summary>
public sealed class OmigSiloOptions
{
    public const string Section = "Omig";

    /// <summary><c>control</c>, <c>host</c> or <c>all</c> (default).</summary>
    public string Role { get; set; } = "all";

    /// <summary>Comma-separated host ids whose agents this silo runs (host and all roles). <c>*</c> (any
    /// host) is allowed, and the default, only with memory storage: the embedded single-silo cluster. A
    /// PostgreSQL cluster must name its hosts, so a host's agent can never move to another machine.</summary>
    public string? Hosts { get; set; }

    /// <summary>Silo name in membership; default <c>omig-{role}-{siloPort}</c>.</summary>
    public string? Name { get; set; }

    /// <summary><c>memory</c> (default) or <c>postgres</c>.</summary>
    public string Storage { get; set; } = "memory";

    /// <summary>Npgsql connection string; required with <c>postgres</c> storage. Never logged.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>A file (mode 0600) holding <see cref="ConnectionString"/>: unlike <c>--connection-string</c>, it does not
    /// show in the process list. The environment (<c>Omig__ConnectionString</c>) does not either.</summary>
    public string? ConnectionStringFile { get; set; }

    /// <summary>How long a starting silo waits for its PostgreSQL while the database is down, recovering or slow,
    /// retrying with a bounded back-off, before it gives up (0: try once).</summary>
    public int DatabaseWaitSeconds { get; set; } = 300;

    /// <summary>Connections this silo opens to PostgreSQL at most (Npgsql's pool; 2–1000, default 20), unless the connection
    /// string sets <c>Maximum Pool Size</c> itself. Every silo's maximum together must stay under the server's
    /// <c>max_connections</c> (PostgreSQL's default: 100); beyond its pool a silo's storage calls wait for a connection
    /// instead of failing with "too many clients" (a burst of activations — 64 index grains reading 64 rows each — once
    /// opened hundreds).</summary>
    public int DatabaseMaxConnections { get; set; } = PostgresConnections.DefaultMaxConnections;

    /// <summary>CPUs this silo process runs on, in list syntax (<c>0</c>, <c>0-1</c>); null (default) leaves it unpinned.
    /// On a hypervisor host: the housekeeping cores, shared with QEMU's emulator threads (<c>Qemu:EmulatorCpus</c>),
    /// apart from the guests' vCPUs (<c>Qemu:VcpuCpus</c>). Every CPU must exist on the machine.</summary>
    public string? HousekeepingCpus { get; set; }

    /// <summary>Orleans cluster id; silos and clients of one cluster share it.</summary>
    public string ClusterId { get; set; } = "omig";

    /// <summary>Orleans service id; keys grain state and reminders, keep it stable across deployments.</summary>
    public string ServiceId { get; set; } = "orleansmigrate";

    /// <summary>Silo-to-silo port, 1–65535; default 11111.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Client gateway port, 1–65535; default 30000.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>The address other silos and clients reach this silo at; default 127.0.0.1.</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>OpenTelemetry export of migration traces and metrics (and Orleans'): <c>none</c> (default),
    /// <c>console</c>, or <c>otlp</c> (to <see cref="OtlpEndpoint"/>).</summary>
    public string Telemetry { get; set; } = "none";

    /// <summary>OTLP collector endpoint, e.g. <c>http://127.0.0.1:4317</c>; required with <c>otlp</c>.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Seconds between passes of the continuous invariant auditor, driven from the control silos (0 turns it off
    /// on this silo; 1–86400; default 30). Its findings are the metric <c>omig.audit.violations</c> and <c>omig audit --last</c>.</summary>
    public int AuditIntervalSeconds { get; set; } = 30;

    /// <summary>Run the Orleans dashboard's grains and grain-call profiler on this silo (<c>--dashboard</c>; default off: the
    /// profiler is a filter on every grain call, which costs throughput). A silo that also serves the HTTP API mounts the
    /// dashboard at <c>/dashboard</c> for operators; every silo of a cluster whose dashboard is used needs it.</summary>
    public bool Dashboard { get; set; }

    /// <summary>Seconds a migration waits for a host's agent that does not answer (its silo is down) before it gives up: a
    /// rollback that cannot reach the source's agent ends <c>failed</c> with what to do (5–86400; default 300).</summary>
    public int AgentWaitTimeoutSeconds { get; set; } = (int)Migration.AgentWaitOptions.DefaultTimeout.TotalSeconds;

    /// <summary>Hypervisor backend of the host agents: <c>simulated</c> (default), <c>qemu</c> (one QEMU process per VM) or
    /// <c>analytic</c> (modelled memory, accelerated time: scale simulation).</summary>
    public string Driver { get; set; } = "simulated";

    /// <summary>Time acceleration of the <c>analytic</c> driver (<c>Omig:TimeAcceleration</c>, 1–1,000,000; default 1000).</summary>
    public double TimeAcceleration { get; set; } = Hypervisor.Simulated.AnalyticHypervisorDriver.DefaultTimeAcceleration;

    /// <summary>QEMU settings (<c>Omig:Qemu:…</c>) for <see cref="Driver"/> <c>qemu</c>: binary, runtime and image directories, accelerator.</summary>
    public Hypervisor.Qemu.QemuDriverOptions Qemu { get; set; } = new();

    /// <summary>Random fault injection for chaos runs (<c>Omig:Faults:Rate</c>, <c>Seed</c>, <c>Steps</c>, …); off by default.
    /// Never enable it on a production cluster.</summary>
    public Faults.FaultInjectionOptions Faults { get; set; } = new();

    /// <summary>How rolling-upgrade campaigns upgrade hosts (<c>Omig:Maintenance:Backend</c> simulated|command, <c>Command</c>, <c>TimeoutSeconds</c>).</summary>
    public Operations.MaintenanceOptions Maintenance { get; set; } = new();

    /// <summary>How hosts are powered on and off, and the headroom the power manager keeps (<c>Omig:Power:Backend</c>
    /// simulated|command, <c>Command</c>, <c>HeadroomPercent</c>, <c>FailureDomainLabel</c>, …).</summary>
    public Operations.PowerOptions Power { get; set; } = new();

    /// <summary>Migration admission limits (<c>Omig:Admission:MaxPerCluster</c>, <c>MaxOutboundPerHost</c>, <c>MaxInboundPerHost</c>);
    /// unset ones keep their defaults (16, 2, 2).</summary>
    public AdmissionSettings Admission { get; set; } = new();

    /// <summary>Factor on the simulated cloud backends' production latencies (<c>Omig:CloudLatencyScale</c>, 0–1; default 1:
    /// production latencies; 0.001 with a time acceleration of 1000 keeps them in modelled time).</summary>
    public double CloudLatencyScale { get; set; } = 1;

    /// <summary>Which cloud backends the grains and agents act through (<c>Omig:Cloud:Disk:Backend</c> simulated|nbd,
    /// <c>Omig:Cloud:Network:Backend</c> simulated|linux, <c>Omig:Cloud:Sessions:Backend</c> simulated|conntrack, …).</summary>
    public CloudSettings Cloud { get; set; } = new();

    /// <summary>Migration policies added to or overriding the built-in ones (<c>Omig:Policies:NAME:Field</c>), listed by <c>omig policy list</c>.</summary>
    public Dictionary<string, Migration.PolicySettings> Policies { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Mutual TLS between silos and from clients (<c>Omig:Tls:…</c>): off unless <c>Tls:Certificate</c> is set;
    /// then every silo and client connection must present a certificate issued by <c>Tls:CaCertificate</c>.</summary>
    public Security.OmigTlsOptions Tls { get; set; } = new();

    public SiloRole ParsedRole => Role.Trim().ToLowerInvariant() switch
    {
        "control" => SiloRole.Control,
        "host" => SiloRole.Host,
        "all" => SiloRole.All,
        _ => throw new InvalidOperationException($"Omig:Role '{Role}' is not control, host or all"),
    };

    public StorageMode ParsedStorage => Storage.Trim().ToLowerInvariant() switch
    {
        "memory" => StorageMode.Memory,
        "postgres" or "postgresql" => StorageMode.Postgres,
        _ => throw new InvalidOperationException($"Omig:Storage '{Storage}' is not memory or postgres"),
    };

    /// <summary>The hosts served: <see cref="Hosts"/>, or <c>*</c> when unset in memory mode.</summary>
    public string EffectiveHosts => Hosts ?? (Storage.Trim().Equals("memory", StringComparison.OrdinalIgnoreCase) ? SiloMetadataKeys.AnyHost : string.Empty);

    public IReadOnlyList<string> HostList => SiloMetadataKeys.Split(EffectiveHosts);

    public string EffectiveName => string.IsNullOrWhiteSpace(Name) ? $"omig-{Role.Trim().ToLowerInvariant()}-{SiloPort}" : Name;
}
