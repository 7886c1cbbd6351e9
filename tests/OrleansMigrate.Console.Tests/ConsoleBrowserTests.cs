using System.Text.Json;
using Microsoft.Playwright;
using OrleansMigrate.Fleet;
using static Microsoft.Playwright.Assertions;

namespace OrleansMigrate.OperatorConsole.Tests;

/// <summary>The console in a real headless Chromium against the real API and an in-process cluster.</summary>
[Trait(TestCategory.Trait, TestCategory.Slow)] // drives Chromium (not set up by the fast lane)
[Collection(ConsoleCollection.Name)]
public sealed class ConsoleBrowserTests(ConsoleFixture fixture)
{
    [BrowserFact]
    public async Task The_fleet_page_lists_every_host_with_its_capacity_health_firmware_and_cordon_state()
    {
        var (a, b, vm) = await fixture.FleetAsync();
        var page = await fixture.SignedInPageAsync(fixture.OperatorKey, "operator");

        var rowA = page.Locator($"tr[data-host='{a}']");
        var rowB = page.Locator($"tr[data-host='{b}']");
        await Expect(rowA).ToContainTextAsync("2.4.1");
        await Expect(rowB).ToContainTextAsync("2.5.0");
        await Expect(rowA).ToContainTextAsync("schedulable");
        await Expect(rowA).ToContainTextAsync("ok");
        // The VM's 2 vCPU of 16 and 512 of 32768 MiB on host A, nothing on B.
        await Expect(page.GetByTestId($"cpu-{a}")).ToContainTextAsync("2 / 16 vCPU");
        await Expect(page.GetByTestId($"mem-{a}")).ToContainTextAsync("512 / 32,768 MiB");
        await Expect(page.GetByTestId($"cpu-{b}")).ToContainTextAsync("0 / 16 vCPU");
        await Expect(page.GetByTestId($"vm-host-{vm}")).ToHaveTextAsync(a);
        await ConsoleFixture.ScreenshotAsync(page, "fleet");
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task A_migration_started_from_the_console_shows_its_timeline_to_completed_and_moves_the_vm()
    {
        var (a, b, vm) = await fixture.FleetAsync();
        var page = await fixture.SignedInPageAsync(fixture.OperatorKey, "operator");

        await page.GetByTestId($"migrate-{vm}").ClickAsync();
        await Expect(page.Locator("#confirm")).ToBeVisibleAsync();
        await page.GetByTestId("destination").SelectOptionAsync(b);
        await page.ClickAsync("#confirm-yes");

        // The console follows the migration's event stream on its own page until the phase is completed.
        await page.WaitForURLAsync("**/console/#/migrations/*");
        await Expect(page.GetByTestId("phase")).ToHaveAttributeAsync("data-phase", "completed", new() { Timeout = 120_000 });
        await Expect(page.GetByTestId("route")).ToHaveTextAsync($"{a} → {b}");
        foreach (var phase in new[] { "prepare", "pre_copy", "switchover", "post_migration", "completed" })
        {
            await Expect(page.Locator($"[data-testid=timeline] li[data-phase='{phase}']")).ToHaveCountAsync(1);
        }

        await Expect(page.GetByTestId("downtime")).ToContainTextAsync(" ms");
        Assert.True(await page.Locator("[data-testid=downtime-steps] tbody tr").CountAsync() > 0, "no switchover steps shown inside the downtime");
        await Expect(page.GetByTestId("guest-check")).ToContainTextAsync("consistent");
        // Every value rendered as text: no stringified element or missing field anywhere on the page.
        await Expect(page.Locator("main")).Not.ToContainTextAsync("[object");
        await Expect(page.Locator("main")).Not.ToContainTextAsync("undefined");
        await ConsoleFixture.ScreenshotAsync(page, "migration");

        var id = page.Url[(page.Url.LastIndexOf('/') + 1)..];
        var status = await fixture.Registry.GetMigrationAsync(id);
        Assert.Equal(Migration.MigrationPhase.Completed, status.Phase);
        Assert.Equal(b, (await fixture.Registry.GetVmAsync(vm)).HostId);

        // And the fleet page says so too.
        await page.GotoAsync("/console/#/fleet");
        await Expect(page.GetByTestId($"vm-host-{vm}")).ToHaveTextAsync(b);
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task An_operator_cordons_and_uncordons_a_host_through_the_confirmation_dialog()
    {
        var (a, _, _) = await fixture.FleetAsync();
        var page = await fixture.SignedInPageAsync(fixture.OperatorKey, "operator");

        await page.GetByTestId($"cordon-{a}").ClickAsync();
        await page.ClickAsync("#confirm-no"); // cancelled: nothing changes
        Assert.Equal(SchedulingState.Schedulable, (await fixture.Registry.GetHostAsync(a)).Scheduling);

        await page.GetByTestId($"cordon-{a}").ClickAsync();
        await page.ClickAsync("#confirm-yes");
        await Expect(page.Locator($"tr[data-host='{a}']")).ToContainTextAsync("cordoned");
        Assert.Equal(SchedulingState.Cordoned, (await fixture.Registry.GetHostAsync(a)).Scheduling);

        await page.GetByTestId($"uncordon-{a}").ClickAsync();
        await page.ClickAsync("#confirm-yes");
        await Expect(page.GetByTestId($"cordon-{a}")).ToBeVisibleAsync();
        Assert.Equal(SchedulingState.Schedulable, (await fixture.Registry.GetHostAsync(a)).Scheduling);
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task A_viewer_sees_the_actions_disabled_and_the_api_refuses_them_with_403()
    {
        var (a, b, vm) = await fixture.FleetAsync();
        var page = await fixture.SignedInPageAsync(fixture.ViewerKey, "viewer");

        await Expect(page.Locator($"tr[data-host='{a}']")).ToBeVisibleAsync();
        await Expect(page.GetByTestId($"cordon-{a}")).ToBeDisabledAsync();
        await Expect(page.GetByTestId($"migrate-{vm}")).ToBeDisabledAsync();
        await ConsoleFixture.ScreenshotAsync(page, "viewer");
        await page.GotoAsync("/console/#/audit");
        await Expect(page.GetByTestId("run-audit")).ToBeDisabledAsync();

        // A viewer who goes around the disabled buttons (the page's own API module, with the key it stored) is refused.
        var answers = await page.EvaluateAsync<JsonElement>("""
            async ([host, vm, dest]) => {
              const { api } = await import('./api.js');
              const tryCall = (m, p, b) => api(m, p, b).then(() => 0, e => e.status);
              return [await tryCall('POST', `/v1/hosts/${host}/cordon`), await tryCall('POST', '/v1/migrations', { vm_id: vm, destination_host: dest })];
            }
            """, new[] { a, vm, b });
        Assert.Equal(403, answers[0].GetInt32());
        Assert.Equal(403, answers[1].GetInt32());
        Assert.Equal(SchedulingState.Schedulable, (await fixture.Registry.GetHostAsync(a)).Scheduling);
        Assert.Equal(a, (await fixture.Registry.GetVmAsync(vm)).HostId);
        Assert.Empty((await fixture.Registry.ListMigrationsAsync(includeEnded: true)).Where(m => m.Request.VmId == vm));
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task The_audit_and_policy_pages_show_what_the_api_returns()
    {
        await fixture.FleetAsync();
        var page = await fixture.SignedInPageAsync(fixture.OperatorKey, "operator");

        await page.GotoAsync("/console/#/policies");
        foreach (var policy in new[] { "standard", "critical", "economy" })
        {
            await Expect(page.Locator($"tr[data-policy='{policy}']")).ToBeVisibleAsync();
        }

        await page.GotoAsync("/console/#/audit");
        await page.GetByTestId("run-audit").ClickAsync();
        await Expect(page.GetByTestId("audit-result")).ToContainTextAsync("VMs checked");
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task A_key_the_api_does_not_accept_is_refused_at_sign_in()
    {
        var context = await fixture.Browser!.NewContextAsync(new BrowserNewContextOptions { BaseURL = fixture.BaseAddress.ToString() });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/console/");
        await page.FillAsync("#api-key", "not-a-key-anyone-configured");
        await page.ClickAsync("#login-form button[type=submit]");
        await Expect(page.Locator("#login-error")).ToContainTextAsync("401");
        await Expect(page.Locator("#nav")).ToBeHiddenAsync();
        Assert.Null(await page.EvaluateAsync<string?>("() => sessionStorage.getItem('omig.apiKey')"));
        await context.CloseAsync();
    }
}
