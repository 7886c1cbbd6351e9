using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.ApiHost;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;

// omig-api: the HTTP API in its own process. An Orleans client of a running cluster (the CLI's connection: static
// gateways or PostgreSQL clustering, optional mutual TLS) carrying the same web application the silo's --api-port runs.
// The grains the API owns (idempotency keys, the API audit log) are activated in the cluster's control silos.
args = ApiHostCommandLine.ExpandFlags(args);
if (args is ["--help"] or ["-h"])
{
    Console.Out.Write(ApiHostCommandLine.Help);
    return 0;
}

if (ApiHostCommandLine.Check(args) is { Count: > 0 } argErrors)
{
    Console.Error.WriteLine("omig-api: " + string.Join("\nomig-api: ", argErrors));
    return 2;
}

var configuration = new ConfigurationBuilder()
    .SetBasePath(AppContext.BaseDirectory)
    .AddJsonFile("appsettings.json", optional: true)
    .AddEnvironmentVariables()
    .AddCommandLine(args, ApiHostCommandLine.Switches.ToDictionary())
    .Build();

var cluster = new ApiHostOptions();
var api = new OmigApiOptions();
var errors = new List<string>();
foreach (var (section, target) in new (string, object)[] { (ApiHostOptions.Section, cluster), (OmigApiOptions.Section, api) })
{
    try
    {
        // OmigApi: is this process's own and strict. Omig: is shared with the silo (Omig__Hosts, Omig__Qemu__… are often in
        // the same environment, as under tests/run.sh --accel): only the keys omig-api uses are read, the silo's are left alone.
        configuration.GetSection(section).Bind(target, o => o.ErrorOnUnknownConfiguration = section != ApiHostOptions.Section);
    }
    catch (InvalidOperationException ex)
    {
        errors.Add($"{section}: {ex.GetBaseException().Message}");
    }
}

if (errors.Count == 0)
{
    errors.AddRange(cluster.Check());
    if (api.Port == 0)
    {
        errors.Add("--api-port: required (the port to serve the API on)");
    }

    errors.AddRange(api.Check());
}

System.Security.Cryptography.X509Certificates.X509Certificate2? https = null;
if (errors.Count == 0)
{
    https = ApiHttps.Certificate(cluster.Tls, api, out var httpsError);
    if (httpsError is not null)
    {
        errors.Add(httpsError);
    }
}

if (errors.Count > 0)
{
    Console.Error.WriteLine("omig-api: invalid configuration:\n  " + string.Join("\n  ", errors));
    return 2;
}

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information)
    .AddFilter("Orleans", LogLevel.Warning).AddFilter("Microsoft", LogLevel.Warning));
OmigClient client;
try
{
    client = await OmigClient.ConnectAsync(cluster.ClientOptions());
}
catch (OmigException ex)
{
    Console.Error.WriteLine($"omig-api: failed to start: {ex.Message}");
    return 1;
}

await using var disposeClient = client;
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
{
    c.Cancel = true;
    stop.Cancel();
});

OmigApiServer server;
try
{
    server = await OmigApiServer.StartAsync(client.Grains, api, loggerFactory, stop.Token, https, cluster.Dashboard);
}
catch (Exception ex) when (ex is IOException or InvalidOperationException or System.Net.Sockets.SocketException)
{
    // Port taken, address not local: one line that says why, not a stack trace.
    Console.Error.WriteLine($"omig-api: failed to start: {ex.GetBaseException().Message}");
    return 1;
}

await using (server)
{
    var where = string.IsNullOrWhiteSpace(cluster.ConnectionString) ? $"gateway port(s) {cluster.Gateways}" : "gateways listed in PostgreSQL";
    Console.WriteLine($"omig-api up: HTTP API at {server.Address} " +
        (api.InsecureNoAuth && api.Keys.Count == 0 ? "WITHOUT AUTHENTICATION (--api-insecure-no-auth)" : $"({api.Keys.Count} API key(s))") +
        $", cluster '{cluster.ClusterId}' through {where}, tls {(cluster.Tls.ClientTlsOn ? "on" : "off")}" +
        (cluster.Dashboard ? ", Orleans dashboard at /dashboard/ (operators; the silos need --dashboard)" : "") + $", pid {Environment.ProcessId}");
    try
    {
        await Task.Delay(Timeout.Infinite, stop.Token);
    }
    catch (OperationCanceledException)
    {
        // SIGTERM or Ctrl+C: stop serving, then leave the cluster.
    }
}

https?.Dispose();
return 0;
