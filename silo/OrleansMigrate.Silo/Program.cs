using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OrleansMigrate.Hosting;
using OrleansMigrate.Silo;

// The silo host: thin by design. Everything an OrleansMigrate silo is lives in
// OrleansMigrate.Grains (SiloBuilderExtensions.UseOrleansMigrate).
if (SiloCommandLine.Check(args) is { Count: > 0 } argErrors)
{
    Console.Error.WriteLine("omig-silo: " + string.Join("\nomig-silo: ", argErrors));
    return 2;
}

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
{
    Args = args,
    ContentRootPath = AppContext.BaseDirectory,
});
builder.Configuration.AddCommandLine(args, SiloCommandLine.Switches.ToDictionary());

var options = new OmigSiloOptions();
try
{
    builder.Configuration.GetSection(OmigSiloOptions.Section).Bind(options, o => o.ErrorOnUnknownConfiguration = true);
}
catch (InvalidOperationException ex)
{
    Console.Error.WriteLine($"omig-silo: configuration: {ex.Message}");
    return 2;
}

if (OmigSiloOptionsValidator.Check(options) is { Count: > 0 } errors)
{
    Console.Error.WriteLine("omig-silo: invalid configuration:\n  " + string.Join("\n  ", errors));
    return 2;
}

builder.Services.AddSingleton(Options.Create(options));
Telemetry.Configure(builder, options);
builder.UseOrleans(silo => silo.UseOrleansMigrate(options));

// Disposed asynchronously: the host runtime lets go of its hypervisors (QEMU guests run on) only that way.
var host = builder.Build();
await using var disposeHost = (IAsyncDisposable)host;
try
{
    await host.StartAsync();
}
catch (Exception ex)
{
    // PostgreSQL down, schema missing, port taken: one line that says why, not a stack trace.
    Console.Error.WriteLine($"omig-silo: failed to start: {ex.GetBaseException().Message}");
    return 1;
}

Console.WriteLine($"omig-silo {options.EffectiveName} up: role {options.Role}, hosts {(options.ParsedRole.HasFlag(SiloRole.Host) ? options.EffectiveHosts : "-")}, " +
    $"storage {options.ParsedStorage.ToString().ToLowerInvariant()}, driver {options.Driver}, silo port {options.SiloPort}, gateway port {options.GatewayPort}, " +
    $"tls {(options.Tls.SiloTlsOn ? "mutual" : "off")}, pid {Environment.ProcessId}");
if (options.Faults.Enabled)
{
    Console.WriteLine($"omig-silo {options.EffectiveName}: FAULT INJECTION ON: rate {options.Faults.Rate.ToString(System.Globalization.CultureInfo.InvariantCulture)}, seed {options.Faults.Seed}, steps {(string.IsNullOrWhiteSpace(options.Faults.Steps) ? "all" : options.Faults.Steps)}");
}

await host.WaitForShutdownAsync();
return 0;
