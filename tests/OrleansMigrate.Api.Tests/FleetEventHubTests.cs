using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using OrleansMigrate.Api.FleetEvents;
using OrleansMigrate.Client;
using OrleansMigrate.Tests.Shared;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>The fan-out's bounds, on a hub of its own over the fixture's cluster (passes driven by the test): a client that
/// does not read is dropped when its queue is full, without holding back the others; clients past the limit are refused.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class FleetEventHubTests(ApiFixture fixture)
{
    [Fact]
    public async Task A_client_that_does_not_read_is_dropped_when_its_queue_is_full_and_the_others_keep_their_events()
    {
        var hub = new FleetEventHub(new OmigClient(fixture.Grains), new FleetEventOptions { ClientQueue = 2, MaxClients = 2, BufferEvents = 64 },
            TimeProvider.System, NullLogger<FleetEventHub>.Instance);
        var slow = hub.Subscribe(null)!;
        var reader = hub.Subscribe(null)!;
        Assert.Null(hub.Subscribe(null)); // the limit
        var read = new List<FleetEvent>();

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

        using var accepted = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b, policy = "long-limit" }));
        var id = (await ReadJsonAsync(accepted)).GetProperty("migration_id").GetString()!;
        try
        {
            // Pre-copy's progress changes every round: passes publish until the slow client's queue of 2 overflows.
            await Eventually.TrueAsync(async () =>
            {
                await hub.PollOnceAsync(CancellationToken.None);
                while (reader.Queue.Reader.TryRead(out var e))
                {
                    read.Add(e);
                }

                return slow.Dropped;
            }, TimeSpan.FromSeconds(60), "the client that did not read is dropped");
            // Its queue holds what it had room for, then ends (its endpoint then writes the final "dropped" event).
            var left = 0;
            while (slow.Queue.Reader.TryRead(out _))
            {
                left++;
            }

            Assert.Equal(2, left);
            Assert.True(slow.Queue.Reader.Completion.IsCompleted);
            Assert.Equal((1, 1L), (hub.Stats.Clients, hub.Stats.Dropped));
            Assert.True(read.Count > 2, $"the reading client got {read.Count} events");
            Assert.All(read, e => Assert.Equal("migration/" + id, e.Subject));
            Assert.NotNull(hub.Subscribe(null)); // a place is free again
        }
        finally
        {
            using var op = fixture.Http(fixture.OperatorKey);
            using (await op.PostAsync($"v1/migrations/{id}/force-complete", null))
            {
            }

            // Best effort, like the loop it replaces: a migration still running is the next test's to wait for, and a
            // failure here would hide the test's own.
            try
            {
                await Eventually.TrueAsync(async () => (await fixture.Registry.GetMigrationAsync(id)).IsEnded, TimeSpan.FromSeconds(90),
                    $"migration {id} ends", TimeSpan.FromMilliseconds(100));
            }
            catch (TimeoutException)
            {
            }
        }
    }
}
