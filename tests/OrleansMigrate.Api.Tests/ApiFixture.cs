using OrleansMigrate.Testing;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Security;
using OrleansMigrate.Client;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Api.Tests;

/// <summary>
/// One in-process silo (every role, in-memory state, simulated hypervisor) and the HTTP API on a loopback port in front of
/// it, served by <see cref="OmigApiServer"/> exactly as the silo serves it with <c>--api-port</c>. Three keys, one per role,
/// generated per run.
/// </summary>
public sealed class ApiFixture : IAsyncLifetime
{
    private IHost? _silo;
    private OmigApiServer? _server;

    public string ViewerKey { get; } = NewKey();
    public string CloudKey { get; } = NewKey();
    public string OperatorKey { get; } = NewKey();

    /// <summary>The registry seen directly through the grains, to check what the API did (or did not) change.</summary>
    public OmigClient Registry { get; private set; } = null!;

    /// <summary>The silo's grain factory, for tests that start another API server (other options) over the same cluster.</summary>
    public IGrainFactory Grains { get; private set; } = null!;

    /// <summary>The silo's services (its <c>MigrationTelemetry</c>, for the metrics tests).</summary>
    public IServiceProvider SiloServices => _silo!.Services;

    public Uri BaseAddress => _server!.Address;

    public IServiceProvider ApiServices => _server!.Services;

    public const int MaxBodyBytes = 8 * 1024;

    public async Task InitializeAsync()
    {
        var options = new OmigSiloOptions
        {
            Role = "all",
            Storage = "memory",
            Name = "omig-api-tests",
            SiloPort = FreePorts.Next(),
            GatewayPort = FreePorts.Next(),
            ClusterId = "omig-api-tests",
        };
        // A guest that out-dirties a 4 MB/s link iterates for minutes unless forced (the force-complete test).
        options.Policies["long-limit"] = new PolicySettings
        {
            DowntimeTargetMs = 0.2, LinkBandwidthBytesPerSecond = 4_000_000, CompletionTimeoutMsPerGiB = 150_000, StallMs = 600_000, OnStall = "abort",
        };
        // QEMU multifd with four channels (the policy list shows it; the simulated hypervisor sends one stream).
        options.Policies["multifd-4"] = new PolicySettings { MigrationChannels = 4 };
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleans(silo => silo.UseOrleansMigrate(options));
        _silo = builder.Build();
        await _silo.StartAsync();
        var grains = _silo.Services.GetRequiredService<IGrainFactory>();
        Registry = new OmigClient(grains);
        Grains = grains;
        _server = await OmigApiServer.StartAsync(grains, new OmigApiOptions
        {
            Port = 0,
            MaxBodyBytes = MaxBodyBytes,
            Keys =
            [
                Key("viewer-1", ViewerKey, ApiRoles.Viewer),
                Key("cloud-1", CloudKey, ApiRoles.CloudService),
                Key("operator-1", OperatorKey, ApiRoles.Operator),
            ],
        }, NullLoggerFactory.Instance);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_silo is not null)
        {
            await _silo.StopAsync(TimeSpan.FromSeconds(10));
            _silo.Dispose();
        }
    }

    /// <summary>A client with the key given (none: no Authorization header). 60 s per request, loopback only.</summary>
    public HttpClient Http(string? key)
    {
        var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return http;
    }

    public static ApiKeyOptions Key(string name, string key, string role) =>
        new() { Name = name, Sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))), Role = role };

    /// <summary>Ids unique per call, so tests sharing the cluster do not see each other's hosts and VMs.</summary>
    public static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..10]}";

    public static StringContent JsonBody(object value) => new(JsonSerializer.Serialize(value), Encoding.UTF8, "application/json");

    public static StringContent RawJson(string text) => new(text, Encoding.UTF8, "application/json");

    public static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    /// <summary>Two hosts through the API (as the operator), returned as ids.</summary>
    public async Task<(string A, string B)> HostsAsync()
    {
        using var http = Http(OperatorKey);
        var a = NewId("h");
        var b = NewId("h");
        foreach (var id in new[] { a, b })
        {
            using var response = await http.PostAsync("v1/hosts", JsonBody(new { host_id = id, cores = 32, memory_mib = 65536, cpu_features = new[] { "avx" } }));
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        return (a, b);
    }

    private static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
}

[CollectionDefinition(Name)]
public sealed class ApiCollection : ICollectionFixture<ApiFixture>
{
    public const string Name = "api";
}
