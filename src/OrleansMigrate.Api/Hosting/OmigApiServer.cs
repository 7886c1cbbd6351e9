using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace OrleansMigrate.Api.Hosting;

/// <summary>
/// The API on its own Kestrel, around a grain factory the caller already has (the silo's, a cluster client's). A separate
/// web application rather than switching the silo's host to one: a silo without <c>--api-port</c> stays exactly as it was.
/// </summary>
public sealed class OmigApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OmigApiServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>Where it listens, e.g. <c>http://127.0.0.1:8080/</c> (the real port when 0 was asked for).</summary>
    public Uri Address { get; }

    public IServiceProvider Services => _app.Services;

    /// <param name="loggerFactory">The host's logging, so API lines go where the silo's go.</param>
    /// <param name="httpsCertificate">Serve HTTPS with it (<see cref="ApiHttps"/>); plain HTTP without.</param>
    /// <param name="dashboard">Mount the Orleans dashboard at /dashboard for operators (<see cref="Dashboard.OmigDashboard"/>);
    /// the cluster's silos must run it (<c>omig-silo --dashboard</c>).</param>
    public static async Task<OmigApiServer> StartAsync(IGrainFactory grains, OmigApiOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken = default,
        System.Security.Cryptography.X509Certificates.X509Certificate2? httpsCertificate = null, bool dashboard = false)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(OmigApiServer).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        builder.Services.Replace(ServiceDescriptor.Singleton(loggerFactory));
        builder.Services.AddSingleton(grains);
        builder.Services.AddOmigApi(options);
        if (dashboard)
        {
            Dashboard.OmigDashboard.AddOmigDashboardApi(builder.Services, options);
        }

        if (httpsCertificate is not null)
        {
            builder.WebHost.UseKestrelHttpsConfiguration(); // the slim builder leaves HTTPS out unless asked
        }

        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(IPAddress.Parse(options.Address), options.Port, listen =>
            {
                if (httpsCertificate is not null)
                {
                    listen.UseHttps(httpsCertificate); // no client certificate asked for: bearer tokens authenticate
                }
            });
            k.AddServerHeader = false;
            // Our reader answers 413 as a problem; Kestrel's own limit is only the backstop for a body that lies about its length.
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes * 2L;
        });
        var app = builder.Build();
        app.MapOmigApi();
        if (dashboard)
        {
            Dashboard.OmigDashboard.MapOmigDashboard(app);
        }
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var log = loggerFactory.CreateLogger("OrleansMigrate.Api");
        if (options.InsecureNoAuth && options.Keys.Count == 0)
        {
            log.LogWarning("HTTP API at {Address} WITHOUT AUTHENTICATION (--api-insecure-no-auth): every caller is an operator", address);
        }
        else
        {
            log.LogInformation("HTTP API at {Address}: {Count} API key(s)", address, options.Keys.Count);
        }

        return new OmigApiServer(app, new Uri(address.EndsWith('/') ? address : address + "/"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(TimeSpan.FromSeconds(5));
        await _app.DisposeAsync();
    }
}

/// <summary>Runs an <see cref="OmigApiServer"/> for the lifetime of a host (the silo, when <c>--api-port</c> is given).</summary>
public sealed class OmigApiHostedService(IGrainFactory grains, OmigApiOptions options, ILoggerFactory loggerFactory,
    System.Security.Cryptography.X509Certificates.X509Certificate2? httpsCertificate = null, bool dashboard = false) : IHostedService
{
    private OmigApiServer? _server;

    public async Task StartAsync(CancellationToken cancellationToken) =>
        _server = await OmigApiServer.StartAsync(grains, options, loggerFactory, cancellationToken, httpsCertificate, dashboard);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
