using System.Net;
using System.Text.Json;
using OrleansMigrate.Fleet;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>Drains, campaigns, plans and preflight over HTTP against the in-process cluster: 202 + Location, idempotent
/// retries, roles, and bad input refused with nothing changed.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class OpsApiTests(ApiFixture fixture)
{
    private async Task<string> VmAsync(string host, int vcpus = 2)
    {
        var vm = NewId("vm");
        using var cloud = fixture.Http(fixture.CloudKey);
        using var created = await cloud.PostAsync("v1/vms", JsonBody(new { vm_id = vm, host_id = host, vcpus, memory_mib = 512, required_cpu_features = new[] { "avx" } }));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return vm;
    }

    /// <summary>A CPU flag no other test's host has (flags take no '-').</summary>
    private static string Feature() => "f_" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>Hosts with a label (so a campaign can select just these) and an extra CPU feature (so a plan's shape fits only them).</summary>
    private async Task<string[]> LabelledHostsAsync(string label, int count, string feature)
    {
        using var op = fixture.Http(fixture.OperatorKey);
        var ids = Enumerable.Range(0, count).Select(_ => NewId("h")).ToArray();
        foreach (var id in ids)
        {
            using var response = await op.PostAsync("v1/hosts", JsonBody(new
            {
                host_id = id, cores = 32, memory_mib = 65536, cpu_features = new[] { "avx", feature }, labels = new Dictionary<string, string> { ["group"] = label },
            }));
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        return ids;
    }

    [Fact]
    public async Task A_drain_is_accepted_with_its_location_replayed_by_its_key_and_moves_every_vm_away()
    {
        var (a, _) = await fixture.HostsAsync();
        var vm = await VmAsync(a);
        using var op = fixture.Http(fixture.OperatorKey);
        using var viewer = fixture.Http(fixture.ViewerKey);

        using (var never = await viewer.GetAsync($"v1/hosts/{a}/drain"))
        {
            await Problems.AssertAsync(never, HttpStatusCode.NotFound, "not_found");
        }

        using (var forbidden = await viewer.PostAsync($"v1/hosts/{a}/drain", JsonBody(new { })))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        using (var bad = await op.PostAsync($"v1/hosts/{a}/drain", JsonBody(new { max_parallel = 0 })))
        {
            await Problems.AssertAsync(bad, HttpStatusCode.BadRequest, "invalid_argument", "max_parallel");
        }

        using (var unknownField = await op.PostAsync($"v1/hosts/{a}/drain", RawJson("{\"max_paralel\":2}")))
        {
            await Problems.AssertAsync(unknownField, HttpStatusCode.BadRequest, "invalid_argument");
        }

        Assert.Equal(SchedulingState.Schedulable, (await fixture.Registry.GetHostAsync(a)).Scheduling); // the refusals changed nothing
        Assert.Null(await fixture.Registry.GetDrainOrNullAsync(a));

        var key = Guid.NewGuid().ToString("N");
        using var start = new HttpRequestMessage(HttpMethod.Post, $"v1/hosts/{a}/drain") { Content = JsonBody(new { max_parallel = 2, preflight = false }) };
        start.Headers.Add("Idempotency-Key", key);
        using var accepted = await op.SendAsync(start);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.Equal($"/v1/hosts/{a}/drain", accepted.Headers.Location?.ToString());
        var startedAt = (await ReadJsonAsync(accepted)).GetProperty("started_at").GetString();

        using var retry = new HttpRequestMessage(HttpMethod.Post, $"v1/hosts/{a}/drain") { Content = JsonBody(new { max_parallel = 2, preflight = false }) };
        retry.Headers.Add("Idempotency-Key", key);
        using var replayed = await op.SendAsync(retry);
        Assert.Equal(HttpStatusCode.Accepted, replayed.StatusCode);
        Assert.Equal("true", replayed.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(startedAt, (await ReadJsonAsync(replayed)).GetProperty("started_at").GetString());

        var done = await Poll.UntilAsync(viewer, $"v1/hosts/{a}/drain", d => d.GetProperty("state").GetString() is "completed" or "incomplete" or "aborted");
        Assert.Equal("completed", done.GetProperty("state").GetString());
        Assert.Contains(done.GetProperty("vms").EnumerateArray(), v => v.GetProperty("vm_id").GetString() == vm && v.GetProperty("state").GetString() == "moved");
        Assert.NotEqual(a, (await fixture.Registry.GetVmAsync(vm)).HostId);

        using (var etag = await viewer.GetAsync($"v1/hosts/{a}/drain"))
        {
            Assert.NotNull(etag.Headers.ETag);
        }

        using (var history = await viewer.GetAsync($"v1/hosts/{a}/drain/history"))
        {
            Assert.Equal(HttpStatusCode.OK, history.StatusCode);
            Assert.Equal(JsonValueKind.Array, (await ReadJsonAsync(history)).GetProperty("items").ValueKind);
        }

        // An ended drain cannot be aborted; the refusal leaves it as it was.
        using (var abort = await op.PostAsync($"v1/hosts/{a}/drain/abort", JsonBody(new { reason = "too late" })))
        {
            await Problems.AssertAsync(abort, HttpStatusCode.Conflict, "conflict", "host_id");
        }

        Assert.Equal(Operations.DrainState.Completed, (await fixture.Registry.GetDrainAsync(a)).State);
    }

    [Fact]
    public async Task A_running_drain_is_aborted_and_the_host_stays_cordoned()
    {
        var (a, _) = await fixture.HostsAsync();
        for (var i = 0; i < 6; i++)
        {
            await VmAsync(a);
        }

        using var op = fixture.Http(fixture.OperatorKey);
        using (var accepted = await op.PostAsync($"v1/hosts/{a}/drain", JsonBody(new { max_parallel = 1, preflight = false })))
        {
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        using (var emptyReason = await op.PostAsync($"v1/hosts/{a}/drain/abort", JsonBody(new { reason = " " })))
        {
            await Problems.AssertAsync(emptyReason, HttpStatusCode.BadRequest, "invalid_argument", "reason");
        }

        using var abort = await op.PostAsync($"v1/hosts/{a}/drain/abort", JsonBody(new { reason = "maintenance window over" }));
        if (abort.StatusCode == HttpStatusCode.Conflict)
        {
            // Six VMs one at a time finished before the abort arrived: the refusal says the drain ended.
            await Problems.AssertAsync(abort, HttpStatusCode.Conflict, "conflict", "host_id");
            return;
        }

        Assert.Equal(HttpStatusCode.Accepted, abort.StatusCode);
        using var viewer = fixture.Http(fixture.ViewerKey);
        var ended = await Poll.UntilAsync(viewer, $"v1/hosts/{a}/drain", d => d.GetProperty("state").GetString() is "completed" or "incomplete" or "aborted");
        Assert.Contains(ended.GetProperty("state").GetString()!, new[] { "aborted", "completed" });
        Assert.NotEqual(SchedulingState.Schedulable, (await fixture.Registry.GetHostAsync(a)).Scheduling);
    }

    [Fact]
    public async Task A_campaign_is_started_paused_resumed_and_upgrades_only_the_hosts_it_selects()
    {
        var label = NewId("grp");
        var hosts = await LabelledHostsAsync(label, 2, Feature());
        using var op = fixture.Http(fixture.OperatorKey);
        using var viewer = fixture.Http(fixture.ViewerKey);
        var before = (await fixture.Registry.ListCampaignsAsync()).Length;

        using (var bad = await op.PostAsync("v1/campaigns", JsonBody(new { firmware_version = "two", selector_key = "group", selector_value = label })))
        {
            await Problems.AssertAsync(bad, HttpStatusCode.BadRequest, "invalid_argument", "firmware_version");
        }

        using var cloud = fixture.Http(fixture.CloudKey);
        using (var forbidden = await cloud.PostAsync("v1/campaigns", JsonBody(new { firmware_version = "2.0.0", selector_key = "group", selector_value = label })))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        Assert.Equal(before, (await fixture.Registry.ListCampaignsAsync()).Length);

        using var accepted = await op.PostAsync("v1/campaigns", JsonBody(new { firmware_version = "2.0.0", selector_key = "group", selector_value = label, batch = 1 }));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var id = (await ReadJsonAsync(accepted)).GetProperty("campaign_id").GetString()!;
        Assert.Equal($"/v1/campaigns/{id}", accepted.Headers.Location?.ToString());

        using (var paused = await op.PostAsync($"v1/campaigns/{id}/pause", JsonBody(new { reason = "look first" })))
        {
            Assert.Equal(HttpStatusCode.OK, paused.StatusCode);
            var state = (await ReadJsonAsync(paused)).GetProperty("state").GetString();
            Assert.True(state is "paused" or "completed", state);
        }

        using (var resumed = await op.PostAsync($"v1/campaigns/{id}/resume", null))
        {
            Assert.True(resumed.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict, resumed.StatusCode.ToString());
        }

        var done = await Poll.UntilAsync(viewer, $"v1/campaigns/{id}", s => s.GetProperty("state").GetString() is "completed" or "cancelled");
        Assert.Equal("completed", done.GetProperty("state").GetString());
        var steps = done.GetProperty("hosts").EnumerateArray().ToList();
        Assert.Equal(hosts.Order(StringComparer.Ordinal), steps.Select(h => h.GetProperty("host_id").GetString()!).Order(StringComparer.Ordinal));
        Assert.All(steps, h => Assert.Equal("done", h.GetProperty("state").GetString()));
        foreach (var host in hosts)
        {
            Assert.Equal("2.0.0", (await fixture.Registry.GetHostAsync(host)).Spec.FirmwareVersion);
        }

        using (var list = await viewer.GetAsync("v1/campaigns?limit=1000"))
        {
            Assert.Contains((await ReadJsonAsync(list)).GetProperty("items").EnumerateArray(), c => c.GetProperty("campaign_id").GetString() == id);
        }

        using (var resumeEnded = await op.PostAsync($"v1/campaigns/{id}/resume", null))
        {
            await Problems.AssertAsync(resumeEnded, HttpStatusCode.Conflict, "conflict", "campaign_id");
        }

        using (var unknown = await viewer.GetAsync($"v1/campaigns/{NewId("camp")}"))
        {
            await Problems.AssertAsync(unknown, HttpStatusCode.NotFound, "not_found", "campaign_id");
        }
    }

    [Fact]
    public async Task A_paused_campaign_is_aborted()
    {
        var label = NewId("grp");
        await LabelledHostsAsync(label, 3, Feature());
        using var op = fixture.Http(fixture.OperatorKey);
        using var accepted = await op.PostAsync("v1/campaigns", JsonBody(new { firmware_version = "3.0.0", selector_key = "group", selector_value = label }));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var id = (await ReadJsonAsync(accepted)).GetProperty("campaign_id").GetString()!;
        using (var paused = await op.PostAsync($"v1/campaigns/{id}/pause", JsonBody(new { reason = "hold" })))
        {
            Assert.Equal(HttpStatusCode.OK, paused.StatusCode);
        }

        using var abort = await op.PostAsync($"v1/campaigns/{id}/abort", JsonBody(new { reason = "not today" }));
        Assert.Equal(HttpStatusCode.Accepted, abort.StatusCode);
        Assert.Equal($"/v1/campaigns/{id}", abort.Headers.Location?.ToString());
        using var viewer = fixture.Http(fixture.ViewerKey);
        var ended = await Poll.UntilAsync(viewer, $"v1/campaigns/{id}", s => s.GetProperty("state").GetString() is "completed" or "cancelled");
        Assert.Equal("cancelled", ended.GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_defrag_plan_is_computed_with_its_moves_and_lower_bound_then_applied()
    {
        var feature = Feature();
        var hosts = await LabelledHostsAsync(NewId("grp"), 2, feature);
        await VmAsync(hosts[0], vcpus: 8);
        await VmAsync(hosts[1], vcpus: 8);
        using var op = fixture.Http(fixture.OperatorKey);
        using var viewer = fixture.Http(fixture.ViewerKey);

        using (var bad = await op.PostAsync("v1/plans/defrag", JsonBody(new { vcpus = 0, memory_mib = 1024 })))
        {
            await Problems.AssertAsync(bad, HttpStatusCode.BadRequest, "invalid_argument", "vcpus");
        }

        using (var forbidden = await viewer.PostAsync("v1/plans/defrag", JsonBody(new { vcpus = 32, memory_mib = 65536 })))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        // A whole host's shape that only these two hosts can run: one of them must be emptied, one VM moved.
        using var created = await op.PostAsync("v1/plans/defrag", JsonBody(new { vcpus = 32, memory_mib = 65536, count = 1, required_cpu_features = new[] { feature } }));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var plan = await ReadJsonAsync(created);
        var id = plan.GetProperty("plan_id").GetString()!;
        Assert.Equal($"/v1/plans/{id}", created.Headers.Location?.ToString());
        Assert.Equal("planned", plan.GetProperty("state").GetString());
        Assert.True(plan.GetProperty("reached").GetBoolean(), plan.ToString());
        Assert.Equal(1, plan.GetProperty("lower_bound").GetInt32());
        var moves = plan.GetProperty("moves").EnumerateArray().ToList();
        Assert.Single(moves);
        Assert.Contains(moves[0].GetProperty("from_host").GetString()!, hosts);
        var moved = moves[0].GetProperty("vm_id").GetString()!;
        Assert.Equal(hosts.Length, (await fixture.Registry.ListVmsAsync()).Count(v => hosts.Contains(v.HostId))); // planning moved nothing

        using (var badApply = await op.PostAsync($"v1/plans/{id}/apply", JsonBody(new { max_parallel = 0 })))
        {
            await Problems.AssertAsync(badApply, HttpStatusCode.BadRequest, "invalid_argument", "max_parallel");
        }

        using (var applied = await op.PostAsync($"v1/plans/{id}/apply", JsonBody(new { max_parallel = 2 })))
        {
            Assert.Equal(HttpStatusCode.Accepted, applied.StatusCode);
            Assert.Equal($"/v1/plans/{id}", applied.Headers.Location?.ToString());
        }

        var done = await Poll.UntilAsync(viewer, $"v1/plans/{id}", p => p.GetProperty("state").GetString() is "completed" or "incomplete");
        Assert.Equal("completed", done.GetProperty("state").GetString());
        var records = await Task.WhenAll(hosts.Select(fixture.Registry.GetHostAsync));
        Assert.Contains(records, h => h.Vms.IsEmpty); // one of the two hosts was emptied
        Assert.Equal(moves[0].GetProperty("to_host").GetString(), (await fixture.Registry.GetVmAsync(moved)).HostId);

        using (var again = await op.PostAsync($"v1/plans/{id}/apply", null))
        {
            await Problems.AssertAsync(again, HttpStatusCode.Conflict, "conflict", "plan_id");
        }

    }

    [Fact]
    public async Task A_balance_plan_is_created_and_bad_thresholds_are_refused()
    {
        using var op = fixture.Http(fixture.OperatorKey);
        using (var bad = await op.PostAsync("v1/plans/balance", JsonBody(new { max_util = 5.0 })))
        {
            await Problems.AssertAsync(bad, HttpStatusCode.BadRequest, "invalid_argument", "max_util");
        }

        using var created = await op.PostAsync("v1/plans/balance", JsonBody(new { max_util = 1.0, cool_down_minutes = 0 }));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var plan = await ReadJsonAsync(created);
        Assert.Equal("balance", plan.GetProperty("kind").GetString());
        Assert.Equal("planned", plan.GetProperty("state").GetString());
        using var viewer = fixture.Http(fixture.ViewerKey);
        using var read = await viewer.GetAsync(created.Headers.Location!.ToString().TrimStart('/'));
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.NotNull(read.Headers.ETag);
    }

    [Fact]
    public async Task A_preflight_answers_its_verdict_and_starts_nothing()
    {
        var (a, b) = await fixture.HostsAsync();
        var vm = await VmAsync(a);
        using var cloud = fixture.Http(fixture.CloudKey);
        using var viewer = fixture.Http(fixture.ViewerKey);
        using (var forbidden = await viewer.PostAsync("v1/migrations/preflight", JsonBody(new { vm_id = vm })))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        using (var unknown = await cloud.PostAsync("v1/migrations/preflight", JsonBody(new { vm_id = NewId("vm") })))
        {
            await Problems.AssertAsync(unknown, HttpStatusCode.NotFound, "not_found", "vm_id");
        }

        using (var bad = await cloud.PostAsync("v1/migrations/preflight", JsonBody(new { vm_id = vm, sample_ms = 5 })))
        {
            await Problems.AssertAsync(bad, HttpStatusCode.BadRequest, "invalid_argument", "sample_ms");
        }

        using var report = await cloud.PostAsync("v1/migrations/preflight", JsonBody(new { vm_id = vm, destination_host = b, sample_ms = 200 }));
        Assert.Equal(HttpStatusCode.OK, report.StatusCode);
        var json = await ReadJsonAsync(report);
        Assert.Equal(vm, json.GetProperty("vm_id").GetString());
        Assert.Equal(a, json.GetProperty("source_host").GetString());
        Assert.True(json.GetProperty("go").GetBoolean(), json.ToString());
        Assert.False(string.IsNullOrWhiteSpace(json.GetProperty("verdict").GetString()));
        Assert.DoesNotContain(await fixture.Registry.ListMigrationsAsync(), m => m.Request.VmId == vm);
        Assert.Equal(a, (await fixture.Registry.GetVmAsync(vm)).HostId);
    }
}
