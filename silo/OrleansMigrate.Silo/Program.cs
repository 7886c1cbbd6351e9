using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Silo;

// The silo host: thin by design. Everything an OrleansMigrate silo is lives in
// OrleansMigrate.Grains (SiloBuilderExtensions.UseOrleansMigrate).
args = SiloCommandLine.ExpandFlags(args);
if (args is ["--help"] or ["-h"])
{
    Console.Out.Write(SiloCommandLine.Help);
    return 0;
}

if (SiloCommandLine.Check(args) is { Count: > 0 } argErrors)
{
    Console.Error.WriteLine("omig-silo: " + string.Join("\nomig-silo: ", argErrors));
    return 2;
}

HostApplicationBuilder NewBuilder()
{
    var b = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
    {
        Args = args,
        ContentRootPath = AppContext.BaseDirectory,
    });
    b.Configuration.AddCommandLine(args, SiloCommandLine.Switches.ToDictionary());
    return b;
}

HostApplicationBuilder? builder = NewBuilder();
var options = new OmigSiloOptions();
var section = builder!.Configuration.GetSection(OmigSiloOptions.Section);
if (ConfigurationKeys.Unknown(section, typeof(OmigSiloOptions)) is { Count: > 0 } unknown)
{
    Console.Error.WriteLine($"omig-silo: configuration: unknown setting{(unknown.Count > 1 ? "s" : string.Empty)} {string.Join(", ", unknown)} " +
        $"(Omig: takes {string.Join(", ", ConfigurationKeys.Known(typeof(OmigSiloOptions)))})");
    return 2;
}

try
{
    section.Bind(options, o => o.ErrorOnUnknownConfiguration = true);
}
catch (InvalidOperationException ex)
{
    Console.Error.WriteLine($"omig-silo: configuration: {OmigSiloOptionsValidator.BindingError(ex)}");
    return 2;
}

var errors = SecretFiles.Resolve(options);
if (errors.Count == 0)
{
    errors = OmigSiloOptionsValidator.Check(options);
}

// A real network backend needs its lab on this machine: said in one line each here, before Orleans starts (the silo's
// start-up check, LinuxNetworkStartupCheck, says the same to an embedding host).
if (errors.Count == 0 && options.Cloud.Network.IsLinux)
{
    errors.AddRange(options.Cloud.Network.Linux.CheckMachine());
}

// The HTTP API: off unless --api-port is given; its own section, so a silo without it is configured exactly as before.
var api = new OmigApiOptions();
var apiSection = builder.Configuration.GetSection(OmigApiOptions.Section);
if (ConfigurationKeys.Unknown(apiSection, typeof(OmigApiOptions)) is { Count: > 0 } unknownApi)
{
    errors.Add($"unknown setting{(unknownApi.Count > 1 ? "s" : string.Empty)} {string.Join(", ", unknownApi)} " +
        $"({OmigApiOptions.Section}: takes {string.Join(", ", ConfigurationKeys.Known(typeof(OmigApiOptions)))})");
}
else
{
    try
    {
        apiSection.Bind(api, o => o.ErrorOnUnknownConfiguration = true);
        if (api.Port > 0)
        {
            errors.AddRange(api.Check());
            if (!options.ParsedRole.HasFlag(SiloRole.Control))
            {
                errors.Add($"--api-port: the HTTP API runs on a control silo (--role control or all), not on role '{options.Role}'");
            }
        }
    }
    catch (InvalidOperationException ex)
    {
        errors.Add($"{OmigApiOptions.Section}: {OmigSiloOptionsValidator.BindingError(ex)}");
    }
}

// On a TLS cluster the API serves HTTPS with this silo's certificate, unless --api-insecure-http says otherwise.
System.Security.Cryptography.X509Certificates.X509Certificate2? apiHttps = null;
if (api.Port > 0 && errors.Count == 0)
{
    apiHttps = ApiHttps.Certificate(options.Tls, api, out var httpsError);
    if (httpsError is not null)
    {
        errors.Add(httpsError);
    }
}

if (errors.Count > 0)
{
    Console.Error.WriteLine("omig-silo: invalid configuration:\n  " + string.Join("\n  ", errors));
    return 2;
}

var started = new SiloStartState();
var waitLimit = TimeSpan.FromSeconds(options.DatabaseWaitSeconds);
var waiting = Stopwatch.StartNew();
var attempt = 0;

// A database that is down, restarting or recovering is waited for, with a bounded back-off and a line saying so;
// one that can never serve this silo as configured (wrong password, no database, no schema) stops it with one line.
async Task<string?> WaitAsync(string reason)
{
    if (waiting.Elapsed >= waitLimit)
    {
        return $"the database did not become ready within {options.DatabaseWaitSeconds} s (Omig:DatabaseWaitSeconds): {reason}";
    }

    attempt++;
    var delay = TimeSpan.FromSeconds(Math.Min(30, Math.Pow(2, Math.Min(attempt - 1, 5))));
    if (waiting.Elapsed + delay > waitLimit)
    {
        delay = waitLimit - waiting.Elapsed;
    }

    Console.Error.WriteLine($"omig-silo {options.EffectiveName}: waiting for the database ({reason}); retry {attempt} in {delay.TotalSeconds:0} s, " +
        $"giving up {options.DatabaseWaitSeconds} s after start");
    await Task.Delay(delay);
    return null;
}

while (true)
{
    if (options.ParsedStorage == StorageMode.Postgres)
    {
        var (outcome, reason) = await DatabaseReadiness.ProbeAsync(options.ConnectionString!, CancellationToken.None);
        if (outcome == DatabaseReadiness.Outcome.Permanent)
        {
            Console.Error.WriteLine($"omig-silo: failed to start: {reason}");
            return 1;
        }

        if (outcome == DatabaseReadiness.Outcome.Transient)
        {
            if (await WaitAsync(reason) is { } gaveUp)
            {
                Console.Error.WriteLine($"omig-silo: failed to start: {gaveUp}");
                return 1;
            }

            continue;
        }

        if (options.Tls.SiloTlsOn && await RefusedByPeersAsync() is { } refused)
        {
            Console.Error.WriteLine($"omig-silo: failed to start: {refused}");
            return 1;
        }
    }

    builder ??= NewBuilder();
    builder.Services.AddSingleton(Options.Create(options));
    builder.Services.AddSingleton(started);
    Telemetry.Configure(builder, options);
    builder.UseOrleans(silo =>
    {
        silo.UseOrleansMigrate(options);
        if (options.Dashboard)
        {
            OrleansMigrate.Api.Dashboard.OmigDashboard.AddOmigDashboard(silo);
        }
        ExitOnFatalError.Register(silo.Services, options);
    });
    if (api.Port > 0)
    {
        // Registered after the silo, so it starts once the silo is up and stops before it.
        builder.Services.AddHostedService(sp => new OmigApiHostedService(sp.GetRequiredService<IGrainFactory>(), api, sp.GetRequiredService<ILoggerFactory>(), apiHttps, options.Dashboard));
    }

    // Disposed asynchronously: the host runtime lets go of its hypervisors (QEMU guests run on) only that way.
    var host = builder.Build();
    builder = null;
    try
    {
        await host.StartAsync();
    }
    catch (Exception ex)
    {
        await DisposeQuietlyAsync(host);
        if (options.ParsedStorage == StorageMode.Postgres && DatabaseReadiness.IsTransient(ex))
        {
            if (await WaitAsync(DatabaseReadiness.Describe(ex)) is { } gaveUp)
            {
                Console.Error.WriteLine($"omig-silo: failed to start: {gaveUp}");
                return 1;
            }

            continue;
        }

        // Schema missing, port taken: one line that says why, not a stack trace.
        Console.Error.WriteLine($"omig-silo: failed to start: {(ex.GetBaseException() is System.Data.Common.DbException ? DatabaseReadiness.Describe(ex) : ex.GetBaseException().Message)}");
        return 1;
    }

    await using var disposeHost = (IAsyncDisposable)host;
    started.Up = true;
    Console.WriteLine($"omig-silo {options.EffectiveName} up: role {options.Role}, hosts {(options.ParsedRole.HasFlag(SiloRole.Host) ? options.EffectiveHosts : "-")}, " +
        $"storage {options.ParsedStorage.ToString().ToLowerInvariant()}, driver {options.Driver}, silo port {options.SiloPort}, gateway port {options.GatewayPort}, " +
        $"tls {(options.Tls.SiloTlsOn ? "mutual" : "off")}, pid {Environment.ProcessId}");
    if (api.Port > 0)
    {
        Console.WriteLine($"omig-silo {options.EffectiveName}: HTTP API on {api.Address}:{api.Port} {(apiHttps is null ? "" : "over HTTPS ")}" +
            (api.InsecureNoAuth && api.Keys.Count == 0 ? "WITHOUT AUTHENTICATION (--api-insecure-no-auth)" : $"({api.Keys.Count} API key(s))") +
            (options.Dashboard ? ", Orleans dashboard at /dashboard/ (operators)" : ""));
    }

    if (options.Dashboard)
    {
        Console.WriteLine($"omig-silo {options.EffectiveName}: Orleans dashboard on (--dashboard): its grains and the grain-call profiler run on this silo");
    }

    if (options.Faults.Enabled)
    {
        Console.WriteLine($"omig-silo {options.EffectiveName}: FAULT INJECTION ON: rate {options.Faults.Rate.ToString(System.Globalization.CultureInfo.InvariantCulture)}, seed {options.Faults.Seed}, steps {(string.IsNullOrWhiteSpace(options.Faults.Steps) ? "all" : options.Faults.Steps)}");
    }

    await host.WaitForShutdownAsync();
    return 0;
}

// The cluster's active silos refusing this silo's certificate (all of those that answered): a reason, else null.
async Task<string?> RefusedByPeersAsync()
{
    try
    {
        var peers = await DatabaseReadiness.ActiveSilosAsync(options.ConnectionString!, options.ClusterId, CancellationToken.None);
        if (peers.Count == 0)
        {
            return null;
        }

        using var certificate = options.Tls.LoadCertificate();
        var (answered, refused) = await PeerCertificateProbe.AskAsync(peers, certificate, CancellationToken.None);
        return answered > 0 && refused == answered
            ? $"the cluster's silos refused this silo's certificate ({refused} of {answered} asked; subject '{certificate.Subject}', issuer '{certificate.Issuer}'): " +
              "it must be issued by the cluster's CA (the --tls-ca of the other silos)"
            : null;
    }
    catch (Exception ex) when (ex is System.Data.Common.DbException or TimeoutException or IOException)
    {
        return null; // The join itself will report what is wrong.
    }
}

static async Task DisposeQuietlyAsync(IHost host)
{
    try
    {
        await ((IAsyncDisposable)host).DisposeAsync();
    }
    catch (Exception)
    {
        // A host that failed to start may fail to dispose too; the next attempt or the exit follows.
    }
}
