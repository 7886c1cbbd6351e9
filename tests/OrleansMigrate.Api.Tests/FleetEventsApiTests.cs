using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Api.FleetEvents;
using OrleansMigrate.Tests.Shared;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>GET /v1/events over HTTP: clients see the same migration's phases to its end from the one fan-out, a resume
/// with Last-Event-ID gets only what came after it, and the gatherer's grain calls do not grow with the clients.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class FleetEventsApiTests(ApiFixture fixture)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    private static readonly string[] Ended = ["completed", "rolled_back", "failed"];

    [Fact]
    public async Task Two_clients_see_the_same_phases_to_completion_and_a_resume_gets_only_later_events()
    {
        var (a, b) = await fixture.HostsAsync();
        var vm = NewId("vm");
        using var cloud = fixture.Http(fixture.CloudKey);
        using (var created = await cloud.PostAsync("v1/vms", JsonBody(new
               {
                   vm_id = vm, host_id = a, vcpus = 2, memory_mib = 512, required_cpu_features = new[] { "avx" },
                   labels = new Dictionary<string, string> { ["sim.memory-mib"] = "8", ["sim.dirty-mbps"] = "50" },
               })))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        await using var first = await SseClient.ConnectAsync(fixture, fixture.ViewerKey, "v1/events");
        await using var second = await SseClient.ConnectAsync(fixture, fixture.OperatorKey, "v1/events");

        // Pre-copy that cannot converge lasts until it is forced: every client sees it, then the switchover, then the end.
        using var accepted = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b, policy = "long-limit" }));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var id = (await ReadJsonAsync(accepted)).GetProperty("migration_id").GetString()!;
        await first.WaitForAsync(e => e.MigrationId == id && e.Phase == "pre_copy", Limit, $"pre_copy of {id}");
        using (var force = await cloud.PostAsync($"v1/migrations/{id}/force-complete", null))
        {
            Assert.Equal(HttpStatusCode.Accepted, force.StatusCode);
        }

        var end = await first.WaitForAsync(e => e.MigrationId == id && Ended.Contains(e.Phase), Limit, $"end of {id}");
        await second.WaitForAsync(e => e.MigrationId == id && Ended.Contains(e.Phase), Limit, $"end of {id}");
        Assert.Equal("completed", end.Phase);
        Assert.Equal("forced", end.Data.GetProperty("switchover_reason").GetString());

        var seenByFirst = first.Events.Where(e => e.MigrationId == id).ToList();
        var seenBySecond = second.Events.Where(e => e.MigrationId == id).ToList();
        Assert.Equal(seenByFirst.Select(e => (e.Id, e.Data.GetRawText())), seenBySecond.Select(e => (e.Id, e.Data.GetRawText())));
        var phases = seenByFirst.Select(e => e.Phase!).Distinct().ToList();
        Assert.Equal("pre_copy", phases.SkipWhile(p => p is "queued" or "prepare").First());
        Assert.Equal("completed", phases[^1]);
        Assert.True(first.Events.Select(e => e.Seq).Zip(first.Events.Skip(1).Select(e => e.Seq)).All(p => p.First < p.Second), "ids do not increase");

        // A resume from the first pre-copy event: exactly the later events, the migration's the same as the live clients saw.
        var from = seenByFirst.First(e => e.Phase == "pre_copy");
        await using var resumed = await SseClient.ConnectAsync(fixture, fixture.ViewerKey, "v1/events", from.Id);
        await resumed.WaitForAsync(e => e.MigrationId == id && Ended.Contains(e.Phase), Limit, $"end of {id} after a resume");
        Assert.Equal(from.Seq + 1, resumed.Events[0].Seq);
        Assert.All(resumed.Events, e => Assert.True(e.Seq > from.Seq, $"{e.Id} is not after {from.Id}"));
        Assert.Equal(seenByFirst.Where(e => e.Seq > from.Seq).Select(e => (e.Id, e.Data.GetRawText())),
            resumed.Events.Where(e => e.MigrationId == id).Select(e => (e.Id, e.Data.GetRawText())));

        // An id this process never gave (another process's) cannot be resumed: the client is told, then gets the current state.
        await using var foreign = await SseClient.ConnectAsync(fixture, fixture.ViewerKey, "v1/events", "0-5");
        var reset = await foreign.WaitForAsync(_ => true, Limit, "reset");
        Assert.Equal("reset", reset.Name);
    }

    [Fact]
    public async Task The_gatherer_makes_the_same_two_grain_calls_per_pass_with_one_client_as_with_five()
    {
        var hub = fixture.ApiServices.GetRequiredService<FleetEventHub>();
        await QuietAsync(hub);

        var (calls1, polls1) = await MeasureAsync(hub, clients: 1);
        var (calls5, polls5) = await MeasureAsync(hub, clients: 5);

        Assert.True(polls1 >= 4 && polls5 >= 4, $"{polls1} and {polls5} passes");
        // Nothing in flight: a pass is the list of migrations and the list of running drains and campaigns. The counters are
        // read while the gatherer runs, so a pass in flight at either end of the window may have made one of its calls on
        // the other side of a reading (a full run saw 7 calls for 4 passes): within one call, the same for 1 client as for 5.
        Assert.InRange(calls1, 2 * polls1 - 1, 2 * polls1 + 1);
        Assert.InRange(calls5, 2 * polls5 - 1, 2 * polls5 + 1);
    }

    /// <summary>Grain calls and passes of the gatherer while <paramref name="clients"/> clients are connected, over at least 4 passes.</summary>
    private async Task<(long Calls, long Polls)> MeasureAsync(FleetEventHub hub, int clients)
    {
        var connected = new List<SseClient>();
        try
        {
            for (var i = 0; i < clients; i++)
            {
                connected.Add(await SseClient.ConnectAsync(fixture, fixture.ViewerKey, "v1/events"));
            }

            // A client that just disconnected (the warm-up's, or the 1-client round's) leaves the hub a moment later.
            await Eventually.TrueAsync(() => hub.Stats.Clients == clients, Limit, $"the hub counts {clients} clients", TimeSpan.FromMilliseconds(20));
            var before = hub.Stats;
            await Eventually.TrueAsync(() => hub.Stats.Polls >= before.Polls + 4, Limit, "the gatherer makes 4 passes");

            var after = hub.Stats;
            Assert.Equal(0, after.Tracked); // nothing in flight
            return (after.GrainCalls - before.GrainCalls, after.Polls - before.Polls);
        }
        finally
        {
            foreach (var client in connected)
            {
                await client.DisposeAsync();
            }
        }
    }

    /// <summary>Waits until no migration is in flight (earlier tests' have ended) and the gatherer follows none.</summary>
    private async Task QuietAsync(FleetEventHub hub)
    {
        await using var warm = await SseClient.ConnectAsync(fixture, fixture.ViewerKey, "v1/events");
        await Eventually.TrueAsync(async () => (await fixture.Registry.ListMigrationsAsync(includeEnded: false)).IsEmpty && hub.Stats.Tracked == 0, Limit,
            "migrations of earlier tests end and the gatherer follows none", TimeSpan.FromMilliseconds(100));
    }
}
