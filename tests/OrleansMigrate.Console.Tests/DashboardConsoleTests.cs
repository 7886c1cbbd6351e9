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
using OrleansMigrate.Hosting;
using static Microsoft.Playwright.Assertions;

namespace OrleansMigrate.OperatorConsole.Tests;

/// <summary>
/// The console's Dashboard link in a real headless Chromium, against a silo running the Orleans dashboard and the API
/// mounting it: an operator sees the link, and clicking it opens a session and the dashboard, whose own scripts then
/// fetch its data with the session cookie alone; a viewer does not see the link.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(DashboardConsoleCollection.Name)]
public sealed class DashboardConsoleTests(DashboardConsoleFixture fixture)
{
    [BrowserFact]
    public async Task An_operators_dashboard_link_opens_the_dashboard_which_loads_its_data_with_the_session_cookie()
    {
        var page = await fixture.SignedInPageAsync(fixture.OperatorKey, "operator");
        var link = page.GetByTestId("nav-dashboard");
        await Expect(link).ToBeVisibleAsync();

        var opened = page.Context.WaitForPageAsync();
        await link.ClickAsync();
        var dashboard = await opened;
        // The dashboard's overview polls its counters every second: one answered 200 means the cookie carried it.
        var counters = await dashboard.WaitForResponseAsync(r => r.Url.Contains("/dashboard/DashboardCounters", StringComparison.Ordinal) && r.Status == 200,
            new() { Timeout = 60_000 });
        Assert.Contains(DashboardConsoleFixture.SiloName, await counters.TextAsync(), StringComparison.Ordinal);
        Assert.EndsWith("/dashboard/", dashboard.Url, StringComparison.Ordinal);
        var cookie = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == DashboardSessionHandler.CookieName);
        Assert.Equal("/dashboard", cookie.Path);
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        await ConsoleFixture.ScreenshotAsync(dashboard, "dashboard");
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task A_viewer_does_not_see_the_dashboard_link()
    {
        var page = await fixture.SignedInPageAsync(fixture.ViewerKey, "viewer");
        await Expect(page.Locator("#nav")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("nav-dashboard")).ToBeHiddenAsync();
        await page.Context.CloseAsync();
    }
}

/// <summary>A silo with the Orleans dashboard on, the API mounting it (as <c>omig-silo --dashboard --api-port</c>), and
/// a headless Chromium when one is installed. Its own cluster and keys.</summary>
public sealed class DashboardConsoleFixture : IAsyncLifetime
{
    private IHost? _silo;
    private OmigApiServer? _server;
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public const string SiloName = "omig-dashboard-console-tests";

    public string ViewerKey { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
    public string OperatorKey { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));

    public async Task InitializeAsync()
    {
        if (!BrowserFactAttribute.ChromiumPresent)
        {
            return; // every test here is skipped
        }

        var options = new OmigSiloOptions
        {
            Role = "all", Storage = "memory", Name = SiloName, SiloPort = FreePorts.Next(), GatewayPort = FreePorts.Next(),
            ClusterId = SiloName, AuditIntervalSeconds = 0, Dashboard = true,
        };
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleans(silo => silo.UseOrleansMigrate(options).AddOmigDashboard());
        _silo = builder.Build();
        await _silo.StartAsync();
        _server = await OmigApiServer.StartAsync(_silo.Services.GetRequiredService<IGrainFactory>(), new OmigApiOptions
        {
            Port = 0,
            Keys = [Key("viewer-1", ViewerKey, ApiRoles.Viewer), Key("operator-1", OperatorKey, ApiRoles.Operator)],
        }, NullLoggerFactory.Instance, dashboard: true);
        Directory.CreateDirectory(ConsoleFixture.ScreenshotDirectory);
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = BrowserFactAttribute.ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-dev-shm-usage"], // as ConsoleFixture: root in a container
        });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync();
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

    /// <summary>A new context and page at the console, signed in with the key, once the header shows the role.</summary>
    public async Task<IPage> SignedInPageAsync(string key, string expectedRole)
    {
        var context = await _browser!.NewContextAsync(new BrowserNewContextOptions { BaseURL = _server!.Address.ToString(), ViewportSize = new() { Width = 1400, Height = 900 } });
        context.SetDefaultTimeout(30_000);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/");
        await page.FillAsync("#api-key", key);
        await page.ClickAsync("#login-form button[type=submit]");
        await Expect(page.Locator("#who")).ToHaveAttributeAsync("data-role", expectedRole);
        return page;
    }

    private static ApiKeyOptions Key(string name, string key, string role) =>
        new() { Name = name, Sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))), Role = role };
}

[CollectionDefinition(Name)]
public sealed class DashboardConsoleCollection : ICollectionFixture<DashboardConsoleFixture>
{
    public const string Name = "dashboard-console";
}
