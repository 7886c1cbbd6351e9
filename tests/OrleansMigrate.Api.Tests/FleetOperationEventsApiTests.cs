using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Api.FleetEvents;
using OrleansMigrate.Operations;
using OrleansMigrate.Tests.Shared;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>Drains and campaigns on <c>GET /v1/events</c>: their progress arrives as <c>drain</c> and <c>campaign</c>
/// events, read from the running-operations list (never by asking every host), and an entry left behind by an operation
/// that ended is pruned.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class FleetOperationEventsApiTests(ApiFixture fixture)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_campaign_and_its_drains_report_their_progress_on_the_fleet_stream_until_they_end()
    {
        var label = NewId("grp");
        var feature = "f_" + Guid.NewGuid().ToString("N")[..10];
        using var op = fixture.Http(fixture.OperatorKey);
        using var cloud = fixture.Http(fixture.CloudKey);
        var hosts = Enumerable.Range(0, 2).Select(_ => NewId("h")).ToArray();
        foreach (var host in hosts)
        {
            using var response = await op.PostAsync("v1/hosts", JsonBody(new
            {
                host_id = host, cores = 32, memory_mib = 65536, cpu_features = new[] { "avx", feature }, labels = new Dictionary<string, string> { ["group"] = label },
            }));
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        var vm = NewId("vm");
        using (var created = await cloud.PostAsync("v1/vms", JsonBody(new { vm_id = vm, host_id = hosts[0], vcpus = 2, memory_mib = 512, required_cpu_features = new[] { feature } })))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        await using var events = await SseClient.ConnectAsync(fixture, fixture.ViewerKey, "v1/events");
        using var accepted = await op.PostAsync("v1/campaigns", JsonBody(new { firmware_version = "3.0.0", selector_key = "group", selector_value = label, batch = 1 }));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var id = (await ReadJsonAsync(accepted)).GetProperty("campaign_id").GetString()!;

        var end = await events.WaitForAsync(e => e.Name == "campaign" && e.Data.GetProperty("campaign_id").GetString() == id
            && e.Data.GetProperty("state").GetString() is "completed" or "cancelled", Limit, $"the end of campaign {id}");
        Assert.Equal("completed", end.Data.GetProperty("state").GetString());
        Assert.Equal((2, 2, 0), (end.Data.GetProperty("hosts").GetInt32(), end.Data.GetProperty("hosts_done").GetInt32(), end.Data.GetProperty("hosts_in_progress").GetInt32()));
        Assert.Equal(1, end.Data.GetProperty("vms_moved").GetInt32());

        // Its progress came before its end: at least one event with a host in progress, and the one host with a VM drained.
        var campaignEvents = events.Events.Where(e => e.Name == "campaign" && e.Data.GetProperty("campaign_id").GetString() == id).ToList();
        Assert.Contains(campaignEvents, e => e.Data.GetProperty("hosts_in_progress").GetInt32() == 1
            && e.Data.GetProperty("in_progress").EnumerateArray().Single().GetProperty("host_id").GetString() is { } h && hosts.Contains(h));
        var drainEnd = await events.WaitForAsync(e => e.Name == "drain" && e.Data.GetProperty("host_id").GetString() == hosts[0]
            && e.Data.GetProperty("state").GetString() == "completed", Limit, $"the end of the drain of {hosts[0]}");
        Assert.Equal(vm, drainEnd.Data.GetProperty("vms").EnumerateArray().Single().GetProperty("vm_id").GetString());

        // Ended operations leave the running list (a watcher stops reading them).
        var running = await fixture.Registry.ListRunningOperationsAsync();
        Assert.DoesNotContain(new FleetOperationRef(FleetOperationKind.Campaign, id), running);
        Assert.DoesNotContain(running, o => o.Kind == FleetOperationKind.Drain && hosts.Contains(o.Id));
    }

    [Fact]
    public async Task An_entry_left_by_an_ended_or_unknown_operation_is_pruned_after_its_final_event_and_a_running_one_is_kept()
    {
        // Entries as an unlisting that failed would leave them: a host drained to its end, a campaign that never existed.
        var (a, _) = await fixture.HostsAsync();
        using var op = fixture.Http(fixture.OperatorKey);
        using (var drained = await op.PostAsync($"v1/hosts/{a}/drain", JsonBody(new { preflight = false })))
        {
            Assert.Equal(HttpStatusCode.Accepted, drained.StatusCode);
        }

        using var viewer = fixture.Http(fixture.ViewerKey);
        await Poll.UntilAsync(viewer, $"v1/hosts/{a}/drain", d => d.GetProperty("state").GetString() == "completed");
        var list = fixture.Grains.GetGrain<IRunningOperationsGrain>(IRunningOperationsGrain.Key);

        // The drain shows completed before it unlists itself: wait for that, or its own unlisting would remove the stale
        // entry added below before the hub's pass sees it (seen once under load).
        var ended = new FleetOperationRef(FleetOperationKind.Drain, a);
        await Eventually.TrueAsync(async () => !(await list.ListAsync()).Contains(ended), TimeSpan.FromSeconds(30), $"the drain of {a} leaving the running list");

        // The API's own hub is what prunes: a hub of the test's own would race it (the API's hub keeps polling for two
        // minutes after the last client of the test before, and pruned the stale entries first once under load). So the
        // test listens to the API's hub, and first lets it finish every pass that could still report the drain's first life.
        var hub = fixture.ApiServices.GetRequiredService<FleetEventHub>();
        var client = hub.Subscribe(null)!;
        try
        {
            await PassesAsync(hub, 2);
            ReadAll(client);

            // A drain that stays running: its VM needs a CPU feature only its own host has, so it finds no destination.
            var lonely = NewId("h");
            var feature = "f_" + Guid.NewGuid().ToString("N")[..10];
            using (var host = await op.PostAsync("v1/hosts", JsonBody(new { host_id = lonely, cores = 32, memory_mib = 65536, cpu_features = new[] { "avx", feature } })))
            {
                Assert.Equal(HttpStatusCode.Created, host.StatusCode);
            }

            using var cloud = fixture.Http(fixture.CloudKey);
            using (var created = await cloud.PostAsync("v1/vms", JsonBody(new { vm_id = NewId("vm"), host_id = lonely, vcpus = 1, memory_mib = 256, required_cpu_features = new[] { feature } })))
            {
                Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            }

            using (var draining = await op.PostAsync($"v1/hosts/{lonely}/drain", JsonBody(new { preflight = false })))
            {
                Assert.Equal(HttpStatusCode.Accepted, draining.StatusCode);
            }

            var live = new FleetOperationRef(FleetOperationKind.Drain, lonely);
            Assert.Contains(live, await list.ListAsync()); // listed by the drain itself

            var stale = new[] { ended, new FleetOperationRef(FleetOperationKind.Campaign, NewId("camp")) };
            foreach (var entry in stale)
            {
                await list.AddAsync(entry);
            }

            await Eventually.TrueAsync(async () => (await list.ListAsync()) is var now && !now.Contains(stale[0]) && !now.Contains(stale[1]),
                TimeSpan.FromSeconds(30), "the API's hub pruning the stale entries");
            await PassesAsync(hub, 2);
            var after = await list.ListAsync();
            Assert.Contains(live, after);
            var got = ReadAll(client);

            // The ended drain's final state was sent once, the running one's state; the unknown campaign sent nothing.
            Assert.Contains(got, e => e.Subject == $"drain/{lonely}" && e.Json.Contains("\"state\":\"running\"", StringComparison.Ordinal));
            Assert.Single(got, e => e.Subject == $"drain/{a}" && e.Json.Contains("\"state\":\"completed\"", StringComparison.Ordinal));
            Assert.Single(got, e => e.Subject == $"drain/{a}");
            Assert.DoesNotContain(got, e => e.Subject == $"campaign/{stale[1].Id}");
            await PassesAsync(hub, 2);
            Assert.DoesNotContain(ReadAll(client), e => e.Subject == $"drain/{a}");

            using (var abort = await op.PostAsync($"v1/hosts/{lonely}/drain/abort", JsonBody(new { reason = "test over" })))
            {
                Assert.Equal(HttpStatusCode.Accepted, abort.StatusCode);
            }

            await Poll.UntilAsync(viewer, $"v1/hosts/{lonely}/drain", d => d.GetProperty("state").GetString() is "aborted" or "incomplete");
            Assert.DoesNotContain(live, await list.ListAsync());
        }
        finally
        {
            hub.Unsubscribe(client);
        }
    }

    /// <summary>Waits until the hub has run <paramref name="count"/> whole passes that began after this call.</summary>
    private static Task PassesAsync(FleetEventHub hub, int count)
    {
        var from = hub.Stats.Polls;
        return Eventually.TrueAsync(() => hub.Stats.Polls >= from + count + 1, TimeSpan.FromSeconds(30), $"{count} passes of the API's event hub");
    }

    private static List<FleetEvent> ReadAll(FleetEventHub.Subscriber client)
    {
        var got = new List<FleetEvent>();
        while (client.Queue.Reader.TryRead(out var e))
        {
            got.Add(e);
        }

        return got;
    }
}
