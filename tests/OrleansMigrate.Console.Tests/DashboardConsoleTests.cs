using Microsoft.Playwright;
using OrleansMigrate.Api.Dashboard;
using static Microsoft.Playwright.Assertions;

namespace OrleansMigrate.OperatorConsole.Tests;

/// <summary>
/// The console's Dashboard link in a real headless Chromium, against a silo running the Orleans dashboard and the API
/// mounting it: an operator sees the link, and clicking it opens a session and the dashboard, whose own scripts then
/// fetch its data with the session cookie alone; a viewer does not see the link.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Slow)] // drives Chromium (not set up by the fast lane)
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
        Assert.Contains(fixture.SiloName, await counters.TextAsync(), StringComparison.Ordinal);
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

[CollectionDefinition(Name)]
public sealed class DashboardConsoleCollection : ICollectionFixture<DashboardConsoleFixture>
{
    public const string Name = "dashboard-console";
}
