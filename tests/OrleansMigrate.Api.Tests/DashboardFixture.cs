using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OrleansMigrate.Api.Dashboard;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Security;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Api.Tests;

/// <summary>
/// A second in-process silo, this one with the Orleans dashboard on (<see cref="OmigDashboard.AddOmigDashboard"/>, what
/// <c>omig-silo --dashboard</c> does), and the API in front of it with the dashboard mounted, as the silo serves it with
/// <c>--dashboard --api-port</c>. Its own cluster, so the grain-call profiler never runs under <see cref="ApiFixture"/>'s
/// tests. Keys per role, generated per run.
/// </summary>
public sealed class DashboardFixture : IAsyncLifetime
{
    private IHost? _silo;
    private OmigApiServer? _server;

    public const string SiloName = "omig-dashboard-tests";

    public string ViewerKey { get; } = Guid.NewGuid().ToString("N");
    public string CloudKey { get; } = Guid.NewGuid().ToString("N");
    public string OperatorKey { get; } = Guid.NewGuid().ToString("N");

    public Uri BaseAddress => _server!.Address;

    /// <summary>The silo's grain factory, for tests that start another API server (other options) over this cluster.</summary>
    public IGrainFactory Grains { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var options = new OmigSiloOptions
        {
            Role = "all",
            Storage = "memory",
            Name = SiloName,
            SiloPort = FreePorts.Next(),
            GatewayPort = FreePorts.Next(),
            ClusterId = "omig-dashboard-tests",
            AuditIntervalSeconds = 0,
            Dashboard = true,
        };
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleans(silo => silo.UseOrleansMigrate(options).AddOmigDashboard());
        _silo = builder.Build();
        await _silo.StartAsync();
        Grains = _silo.Services.GetRequiredService<IGrainFactory>();
        _server = await OmigApiServer.StartAsync(Grains, new OmigApiOptions
        {
            Port = 0,
            Keys =
            [
                ApiFixture.Key("viewer-1", ViewerKey, ApiRoles.Viewer),
                ApiFixture.Key("cloud-1", CloudKey, ApiRoles.CloudService),
                ApiFixture.Key("operator-1", OperatorKey, ApiRoles.Operator),
            ],
        }, NullLoggerFactory.Instance, dashboard: true);
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

    /// <summary>A client that keeps no cookies of its own (each test sends exactly the Cookie header it means to), with
    /// the key given as Bearer (none: no Authorization header), no redirects followed. 60 s per request, loopback only.</summary>
    public HttpClient Http(string? key = null) => Client(BaseAddress, key);

    public static HttpClient Client(Uri baseAddress, string? key)
    {
        var http = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false })
        {
            BaseAddress = baseAddress,
            Timeout = TimeSpan.FromSeconds(60),
        };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        }

        return http;
    }

    /// <summary>POST /v1/session with the key; asserts 204 and returns the Set-Cookie header and the cookie's id.</summary>
    public Task<(string SetCookie, string Id)> SessionAsync(string key) => SessionAsync(BaseAddress, key);

    public static async Task<(string SetCookie, string Id)> SessionAsync(Uri baseAddress, string key)
    {
        using var http = Client(baseAddress, key);
        using var response = await http.PostAsync("v1/session", null);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        var setCookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        var pair = setCookie.Split(';')[0];
        Assert.StartsWith(DashboardSessionHandler.CookieName + "=", pair, StringComparison.Ordinal);
        return (setCookie, pair[(DashboardSessionHandler.CookieName.Length + 1)..]);
    }

    /// <summary>
    /// Polls <c>/dashboard/DashboardCounters</c> (what the dashboard's overview page polls; the dashboard grain gathers it
    /// from every silo once a second) with the session cookie only, until its <c>hosts</c> list the silo: every answer
    /// must be 200 JSON. At most 60 s, 120 tries.
    /// </summary>
    public static async Task CountersListSiloAsync(Uri baseAddress, string sessionId, string siloName)
    {
        var last = "";
        try
        {
            await Eventually.TrueAsync(async () =>
            {
                using var counters = await GetWithCookieAsync(baseAddress, "dashboard/DashboardCounters", sessionId);
                last = await counters.Content.ReadAsStringAsync();
                Assert.True(counters.StatusCode == HttpStatusCode.OK, $"{(int)counters.StatusCode}: {last}");
                Assert.Equal("application/json", counters.Content.Headers.ContentType?.MediaType);
                var json = System.Text.Json.JsonDocument.Parse(last).RootElement;
                if (json.TryGetProperty("hosts", out var hosts) && hosts.ValueKind == System.Text.Json.JsonValueKind.Array
                    && hosts.EnumerateArray().Any(h => h.GetProperty("siloName").GetString() == siloName))
                {
                    Assert.True(json.GetProperty("totalActiveHostCount").GetInt32() >= 1, last);
                    return true;
                }

                return false;
            }, TimeSpan.FromSeconds(60), $"the dashboard's counters list silo {siloName}", TimeSpan.FromMilliseconds(500));
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the dashboard's counters never listed silo {siloName}; last: {last}");
        }
    }

    /// <summary>A GET carrying only the dashboard cookie (no Authorization header).</summary>
    public Task<HttpResponseMessage> GetWithCookieAsync(string path, string? sessionId) => GetWithCookieAsync(BaseAddress, path, sessionId);

    public static async Task<HttpResponseMessage> GetWithCookieAsync(Uri baseAddress, string path, string? sessionId)
    {
        using var http = Client(baseAddress, null);
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (sessionId is not null)
        {
            request.Headers.Add("Cookie", $"{DashboardSessionHandler.CookieName}={sessionId}");
        }

        return await http.SendAsync(request);
    }
}

[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<DashboardFixture>
{
    public const string Name = "dashboard";
}
