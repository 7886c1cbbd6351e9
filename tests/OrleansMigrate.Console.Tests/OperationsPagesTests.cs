using System.Collections.Immutable;
using System.Text.Json;
using Microsoft.Playwright;
using OrleansMigrate.Fleet;
using OrleansMigrate.Operations;
using static Microsoft.Playwright.Assertions;

namespace OrleansMigrate.OperatorConsole.Tests;

/// <summary>The drains, campaigns and plans pages in a real headless Chromium against the real API and an in-process cluster.</summary>
[Trait(TestCategory.Trait, TestCategory.Slow)] // drives Chromium (not set up by the fast lane)
[Collection(ConsoleCollection.Name)]
public sealed class OperationsPagesTests(ConsoleFixture fixture)
{
    /// <summary>Long enough for a drain, a campaign or a plan of a few small VMs on the simulated hypervisor; bounded.</summary>
    private static readonly LocatorAssertionsToHaveAttributeOptions UntilDone = new() { Timeout = 120_000 };

    /// <summary>Hosts only this test selects: a label for a campaign's selector and a CPU flag for a plan's shape.</summary>
    private async Task<string[]> LabelledHostsAsync(int count, string label, string feature, string firmware = "2.4.1")
    {
        var ids = Enumerable.Range(0, count).Select(_ => ConsoleFixture.NewId("h")).ToArray();
        foreach (var id in ids)
        {
            await fixture.Registry.AddHostAsync(new HostSpec(id, 16, 32768, "generic-x86-64", ["avx", feature], 1, firmware, "6.1.0", "7.2.0",
                ImmutableDictionary<string, string>.Empty.Add("group", label)));
        }

        return ids;
    }

    private async Task<string> VmAsync(string host, int vcpus)
    {
        var vm = ConsoleFixture.NewId("vm");
        await fixture.Registry.CreateVmAsync(new VmSpec(vm, vcpus, 512, ["avx"], "standard", ImmutableDictionary<string, string>.Empty, [], [], []), host);
        return vm;
    }

    [BrowserFact]
    public async Task A_drain_started_from_the_console_shows_its_progress_to_completed_with_the_moves_listed()
    {
        var (a, _, vm) = await fixture.FleetAsync();
        var second = await VmAsync(a, 1);
        var page = await fixture.SignedInPageAsync(fixture.OperatorKey, "operator");
        await page.GotoAsync("/console/#/drains");
        await Expect(page.GetByTestId("drains-status")).ToContainTextAsync("updated");

        await page.GetByTestId("drain-host").SelectOptionAsync(a);
        await page.GetByTestId("start-drain").ClickAsync();
        await Expect(page.Locator("#confirm")).ToBeVisibleAsync();
        await Expect(page.Locator("#confirm-title")).ToHaveTextAsync($"Drain host {a}?");
        await page.ClickAsync("#confirm-yes");

        // The page polls the drain until it ends: both VMs moved, nothing remaining, each with its destination and migration.
        var card = page.Locator($"section[data-drain='{a}']");
        await Expect(page.GetByTestId($"drain-state-{a}")).ToHaveAttributeAsync("data-state", "completed", UntilDone);
        await Expect(card.Locator("[data-figure=moved] strong")).ToHaveTextAsync("2");
        await Expect(card.Locator("[data-figure=remaining] strong")).ToHaveTextAsync("0");
        await Expect(card.Locator("[data-figure=failed] strong")).ToHaveTextAsync("0");
        foreach (var id in new[] { vm, second })
        {
            await Expect(card.Locator($"tr[data-vm='{id}']")).ToHaveAttributeAsync("data-state", "moved");
            var now = (await fixture.Registry.GetVmAsync(id)).HostId;
            Assert.NotEqual(a, now);
            await Expect(card.GetByTestId($"dest-{id}")).ToHaveTextAsync(now);
            await Expect(card.Locator($"tr[data-vm='{id}'] a[href^='#/migrations/']")).ToHaveCountAsync(1);
        }

        await Expect(page.Locator("main")).Not.ToContainTextAsync("undefined");
        await ConsoleFixture.ScreenshotAsync(page, "drains");
        var drain = await fixture.Registry.GetDrainAsync(a);
        Assert.Equal(DrainState.Completed, drain.State);
        Assert.Equal("api:operator-1", drain.Options.RequestedBy);

        // The emptied host goes back into service through the same page.
        Assert.NotEqual(SchedulingState.Schedulable, (await fixture.Registry.GetHostAsync(a)).Scheduling);
        await page.GetByTestId($"uncordon-{a}").ClickAsync();
        await page.ClickAsync("#confirm-yes");
        await Expect(page.Locator("#confirm")).ToBeHiddenAsync();
        Assert.Equal(SchedulingState.Schedulable, (await fixture.Registry.GetHostAsync(a)).Scheduling);
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task A_viewer_is_refused_the_drain_action_and_nothing_is_drained()
    {
        var (a, _, vm) = await fixture.FleetAsync();
        var page = await fixture.SignedInPageAsync(fixture.ViewerKey, "viewer");
        await page.GotoAsync("/console/#/drains");
        await Expect(page.GetByTestId("drains-status")).ToContainTextAsync("updated");

        await Expect(page.GetByTestId("drain-host").Locator($"option[value='{a}']")).ToHaveCountAsync(1);
        await Expect(page.GetByTestId("start-drain")).ToBeDisabledAsync();
        await Expect(page.GetByTestId("start-drain")).ToHaveAttributeAsync("title", "needs the operator role");

        // Around the disabled button, through the page's own API module: the API answers 403 with its problem.
        var answer = await page.EvaluateAsync<JsonElement>("""
            async host => {
              const { api } = await import('./api.js');
              return api('POST', `/v1/hosts/${host}/drain`, { max_parallel: 2 }).then(() => null, e => ({ status: e.status, code: e.code }));
            }
            """, a);
        Assert.Equal(403, answer.GetProperty("status").GetInt32());
        Assert.Null(await fixture.Registry.GetDrainOrNullAsync(a));
        Assert.Equal(SchedulingState.Schedulable, (await fixture.Registry.GetHostAsync(a)).Scheduling);
        Assert.Equal(a, (await fixture.Registry.GetVmAsync(vm)).HostId);

        // The other operator actions are disabled for a viewer too.
        await page.GotoAsync("/console/#/campaigns");
        await Expect(page.GetByTestId("start-campaign")).ToBeDisabledAsync();
        await page.GotoAsync("/console/#/plans");
        await Expect(page.GetByTestId("plan-defrag")).ToBeDisabledAsync();
        await Expect(page.GetByTestId("plan-balance")).ToBeDisabledAsync();
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task A_campaign_started_from_the_console_shows_each_hosts_steps_to_done()
    {
        var label = ConsoleFixture.NewId("grp");
        var hosts = await LabelledHostsAsync(2, label, "f_" + Guid.NewGuid().ToString("N")[..8]);
        var page = await fixture.SignedInPageAsync(fixture.OperatorKey, "operator");
        await page.GotoAsync("/console/#/campaigns");

        await page.GetByTestId("campaign-firmware").FillAsync("9.1.0");
        await page.GetByTestId("campaign-key").FillAsync("group");
        await page.GetByTestId("campaign-value").FillAsync(label);
        await page.GetByTestId("start-campaign").ClickAsync();
        await Expect(page.Locator("#confirm-title")).ToHaveTextAsync("Upgrade to firmware 9.1.0?");
        await page.ClickAsync("#confirm-yes");
        await Expect(page.Locator("#confirm")).ToBeHiddenAsync();

        var campaign = Assert.Single(await fixture.Registry.ListCampaignsAsync(), c => c.Spec.SelectorValue == label);
        var id = campaign.CampaignId;
        var card = page.Locator($"section[data-campaign='{id}']");
        await Expect(page.GetByTestId($"campaign-state-{id}")).ToHaveAttributeAsync("data-state", "completed", UntilDone);
        await Expect(card.Locator("tbody tr")).ToHaveCountAsync(hosts.Length);
        foreach (var host in hosts)
        {
            var row = card.Locator($"tr[data-host='{host}']");
            await Expect(row).ToHaveAttributeAsync("data-state", "done");
            await Expect(row).ToContainTextAsync("2.4.1 → 9.1.0");
            await Expect(row.Locator("ol.stepper li.done")).ToHaveCountAsync(4);
            Assert.Equal("9.1.0", (await fixture.Registry.GetHostAsync(host)).Spec.FirmwareVersion);
        }

        await Expect(card).ToContainTextAsync($"2 / 2 hosts upgraded");
        await ConsoleFixture.ScreenshotAsync(page, "campaigns");
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task A_defrag_plan_computed_from_the_console_shows_its_moves_against_the_lower_bound_and_applies()
    {
        var feature = "f_" + Guid.NewGuid().ToString("N")[..8];
        var hosts = await LabelledHostsAsync(2, ConsoleFixture.NewId("grp"), feature);
        await VmAsync(hosts[0], 4);
        await VmAsync(hosts[1], 4);
        var page = await fixture.SignedInPageAsync(fixture.OperatorKey, "operator");
        await page.GotoAsync("/console/#/plans");

        // A whole host's shape only these two hosts can run: one of them must be emptied.
        await page.GetByTestId("defrag-vcpus").FillAsync("16");
        await page.GetByTestId("defrag-memory").FillAsync("32768");
        await page.GetByTestId("defrag-features").FillAsync(feature);
        await page.GetByTestId("plan-defrag").ClickAsync();
        try
        {
            await page.WaitForURLAsync("**/console/#/plans/*");
        }
        catch (TimeoutException)
        {
            // Once in a full run (2026-12-04) the page never opened the plan: say what it showed instead.
            Assert.Fail($"the console did not open the computed plan (at {page.Url}); it shows: {await page.InnerTextAsync("#main")}");
        }

        var planId = Uri.UnescapeDataString(page.Url[(page.Url.LastIndexOf('/') + 1)..]);
        var plan = await fixture.Registry.GetPlanAsync(planId);
        Assert.Equal(FleetPlanState.Planned, plan.State);
        Assert.NotNull(plan.LowerBound);

        await Expect(page.GetByTestId("plan-state")).ToHaveAttributeAsync("data-state", "planned");
        await Expect(page.GetByTestId("plan-moves").Locator("tbody tr")).ToHaveCountAsync(plan.Moves.Length);
        foreach (var move in plan.Moves)
        {
            await Expect(page.GetByTestId("plan-moves").Locator($"tr[data-vm='{move.VmId}']")).ToContainTextAsync($"{move.FromHost} → {move.ToHost}");
        }

        await Expect(page.GetByTestId("plan-move-count")).ToHaveTextAsync(plan.Moves.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Expect(page.GetByTestId("plan-lower-bound")).ToHaveTextAsync(plan.LowerBound!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await ConsoleFixture.ScreenshotAsync(page, "plan");

        await page.GetByTestId("apply-plan").ClickAsync();
        await page.ClickAsync("#confirm-yes");
        await Expect(page.GetByTestId("plan-state")).ToHaveAttributeAsync("data-state", "completed", UntilDone);
        foreach (var move in plan.Moves)
        {
            await Expect(page.GetByTestId("plan-moves").Locator($"tr[data-vm='{move.VmId}']")).ToHaveAttributeAsync("data-state", "done");
            Assert.Equal(move.ToHost, (await fixture.Registry.GetVmAsync(move.VmId)).HostId);
        }

        // The plans list of this tab remembers it.
        await page.GotoAsync("/console/#/plans");
        await Expect(page.Locator($"tr[data-plan='{planId}']")).ToContainTextAsync("completed");
        await page.Context.CloseAsync();
    }
}
