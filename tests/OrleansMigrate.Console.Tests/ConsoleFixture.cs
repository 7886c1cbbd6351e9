using OrleansMigrate.Testing;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Playwright;
using OrleansMigrate.Api.Dashboard;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Security;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.OperatorConsole.Tests;

/// <summary>
/// One in-process silo (every role, in-memory state, simulated hypervisor) with the HTTP API — and so the console — on a
/// loopback port, served by <see cref="OmigApiServer"/> as the silo serves it with <c>--api-port</c> (the API tests'
/// fixture, trimmed); and, when <see cref="BrowserFactAttribute.ChromiumPath"/> exists, one headless Chromium driven by
/// Playwright. Keys per role, generated per run. <see cref="DashboardConsoleFixture"/> is the same with the Orleans
/// dashboard on (its own cluster).
/// </summary>
public class ConsoleFixture : IAsyncLifetime
{
    private readonly bool _dashboard;
    private IHost? _silo;
    private OmigApiServer? _server;
    private IPlaywright? _playwright;

    public ConsoleFixture()
        : this("omig-console-tests", dashboard: false)
    {
    }

    /// <param name="siloName">The silo's name and cluster id.</param>
    /// <param name="dashboard">Run the Orleans dashboard on the silo and mount it in the API (<c>--dashboard</c>).</param>
    protected ConsoleFixture(string siloName, bool dashboard)
    {
        SiloName = siloName;
        _dashboard = dashboard;
    }

    public string SiloName { get; }

    public string ViewerKey { get; } = NewKey();
    public string OperatorKey { get; } = NewKey();

    /// <summary>The registry seen directly through the grains, to check what the console did (or did not) change.</summary>
    public OmigClient Registry { get; private set; } = null!;

    public Uri BaseAddress => _server!.Address;

    /// <summary>The browser; null when Chromium is not installed (the browser tests are skipped then).</summary>
    public IBrowser? Browser { get; private set; }

    /// <summary>Where the tests write their screenshots: <c>$OMIG_TEST_OUT/screenshots</c>, else beside the test assembly.</summary>
    public static string ScreenshotDirectory { get; } = Path.Combine(
        Environment.GetEnvironmentVariable("OMIG_TEST_OUT") is { Length: > 0 } root ? root : AppContext.BaseDirectory, "screenshots");

    public async Task InitializeAsync()
    {
        var options = new OmigSiloOptions
        {
            Role = "all",
            Storage = "memory",
            Name = SiloName,
            SiloPort = FreePorts.Next(),
            GatewayPort = FreePorts.Next(),
            ClusterId = SiloName,
            Dashboard = _dashboard,
        };
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleans(silo =>
        {
            silo.UseOrleansMigrate(options);
            if (_dashboard)
            {
                silo.AddOmigDashboard();
            }
        });
        _silo = builder.Build();
        await _silo.StartAsync();
        var grains = _silo.Services.GetRequiredService<IGrainFactory>();
        Registry = new OmigClient(grains);
        _server = await OmigApiServer.StartAsync(grains, new OmigApiOptions
        {
            Port = 0,
            Keys = [Key("viewer-1", ViewerKey, ApiRoles.Viewer), Key("operator-1", OperatorKey, ApiRoles.Operator)],
        }, NullLoggerFactory.Instance, dashboard: _dashboard);

        if (BrowserFactAttribute.ChromiumPresent)
        {
            Directory.CreateDirectory(ScreenshotDirectory);
            _playwright = await Playwright.CreateAsync();
            Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = BrowserFactAttribute.ChromiumPath,
                Headless = true,
                // We run as root in a container: Chromium's sandbox needs user namespaces it does not get there.
                Args = ["--no-sandbox", "--disable-dev-shm-usage"],
            });
        }
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
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

    /// <summary>A new page (its own context: its own sessionStorage) at the console, signed in with <paramref name="key"/>,
    /// once the header shows the role the API reported for the key.</summary>
    public async Task<IPage> SignedInPageAsync(string key, string expectedRole)
    {
        var context = await Browser!.NewContextAsync(new BrowserNewContextOptions { BaseURL = BaseAddress.ToString(), ViewportSize = new() { Width = 1400, Height = 900 } });
        context.SetDefaultTimeout(30_000);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/");
        await page.FillAsync("#api-key", key);
        await page.ClickAsync("#login-form button[type=submit]");
        await Assertions.Expect(page.Locator("#who")).ToHaveAttributeAsync("data-role", expectedRole);
        return page;
    }

    public static async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, name + ".png"), FullPage = true });

    /// <summary>Two hosts and a small VM (one disk, one NIC) on the first, straight through the registry (the console is what is under test).</summary>
    public async Task<(string A, string B, string Vm)> FleetAsync()
    {
        var a = NewId("h");
        var b = NewId("h");
        foreach (var (id, firmware) in new[] { (a, "2.4.1"), (b, "2.5.0") })
        {
            await Registry.AddHostAsync(new HostSpec(id, 16, 32768, "generic-x86-64", ["avx"], 1, firmware, "6.1.0", "7.2.0",
                System.Collections.Immutable.ImmutableDictionary<string, string>.Empty));
        }

        // With a cloud disk and a VPC NIC, so the switchover has disk and relay steps inside the downtime to show.
        var vm = NewId("vm");
        var ip = $"10.{Random.Shared.Next(1, 250)}.{Random.Shared.Next(1, 250)}.{Random.Shared.Next(2, 250)}";
        await Registry.CreateVmAsync(new VmSpec(vm, 2, 512, ["avx"], "standard", System.Collections.Immutable.ImmutableDictionary<string, string>.Empty,
            [new DiskSpec($"{vm}-root", 10)], [new NicSpec("vpc-console", ip, Client.Parsing.CliParsers.DeriveMac(vm, ip))], []), a);
        return (a, b, vm);
    }

    public static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";

    private static ApiKeyOptions Key(string name, string key, string role) =>
        new() { Name = name, Sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))), Role = role };

    private static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
}

/// <summary>The console's fixture with the Orleans dashboard on, as <c>omig-silo --dashboard --api-port</c>.</summary>
public sealed class DashboardConsoleFixture() : ConsoleFixture("omig-dashboard-console-tests", dashboard: true);

[CollectionDefinition(Name)]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleFixture>
{
    public const string Name = "console";
}
