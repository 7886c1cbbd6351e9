using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Client;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Cli.Demo;

/// <summary>One in-process silo with every role, localhost clustering and in-memory state: the embedded default.</summary>
public sealed class EmbeddedCluster : IAsyncDisposable
{
    private readonly IHost _host;
    private int _disposed;

    private EmbeddedCluster(IHost host, OmigSiloOptions options)
    {
        _host = host;
        Options = options;
        Client = new OmigClient(host.Services.GetRequiredService<IGrainFactory>());
    }

    public OmigSiloOptions Options { get; }

    public OmigClient Client { get; }

    /// <summary>The silo's services (host runtime, cloud backends), for in-process probes.</summary>
    public IServiceProvider Services => _host.Services;

    /// <param name="gatewayPort">0 picks a free port.</param>
    /// <param name="configure">Extra silo services (e.g. runtime options), applied before ours.</param>
    /// <param name="minimumLevel">Console log level; warnings by default (a chaos run would print every injected fault).</param>
    public static async Task<EmbeddedCluster> StartAsync(int gatewayPort, CancellationToken cancellationToken, Action<ISiloBuilder>? configure = null, LogLevel minimumLevel = LogLevel.Warning)
    {
        // Both ports are taken while both listeners are open, so they differ; and never the gateway port asked for.
        var ports = FreePorts(2).Where(p => p != gatewayPort).ToArray();
        var options = new OmigSiloOptions
        {
            Role = "all",
            Storage = "memory",
            Name = "omig-embedded",
            SiloPort = ports[0],
            GatewayPort = gatewayPort == 0 ? ports[1] : gatewayPort,
            ClusterId = "omig-demo",
        };
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        AddStandardErrorLogging(builder.Logging, minimumLevel);
        builder.UseOrleans(silo =>
        {
            configure?.Invoke(silo);
            silo.UseOrleansMigrate(options);
        });
        var host = builder.Build();
        await host.StartAsync(cancellationToken);
        return new EmbeddedCluster(host, options);
    }

    /// <summary>The console logger of every in-process silo the CLI starts: every level to stderr, so stdout carries only the
    /// command's output (<c>omig demo --json</c> must print JSON and nothing else).</summary>
    public static ILoggingBuilder AddStandardErrorLogging(ILoggingBuilder logging, LogLevel minimumLevel)
    {
        logging.AddSimpleConsole().SetMinimumLevel(minimumLevel);
        logging.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        return logging;
    }

    public Task WaitForShutdownAsync(CancellationToken cancellationToken) => _host.WaitForShutdownAsync(cancellationToken);

    /// <summary>Stops the silo; idempotent (a benchmark may stop it early to measure without it).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _host.StopAsync(TimeSpan.FromSeconds(10));
        _host.Dispose();
    }

    /// <summary>Distinct ports free on loopback: all listeners are open at once, so the kernel cannot give one port twice.</summary>
    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        try
        {
            foreach (var listener in listeners)
            {
                listener.Start();
            }

            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Dispose();
            }
        }
    }
}
