using System.Net;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>POST /v1/migrations/{id}/force-complete over HTTP: 202 in pre-copy and the migration completes saying
/// <c>forced</c>; 409 with the reason once it has ended; a viewer is refused; the idempotency key and the audit log apply.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class ForceCompleteApiTests(ApiFixture fixture)
{
    [Fact]
    public async Task A_migration_in_pre_copy_is_forced_to_complete_and_an_ended_one_is_409()
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

        using var accepted = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b, policy = "long-limit" }));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var id = (await ReadJsonAsync(accepted)).GetProperty("migration_id").GetString()!;

        // Iterating: pre-copy's second round has begun.
        await PollAsync(cloud, id, m => m.GetProperty("phase").GetString() == "pre_copy" && m.GetProperty("progress").GetProperty("round").GetInt32() >= 2);

        using var viewer = fixture.Http(fixture.ViewerKey);
        using (var refused = await viewer.PostAsync($"v1/migrations/{id}/force-complete", null))
        {
            await Problems.AssertAsync(refused, HttpStatusCode.Forbidden, "forbidden");
        }

        var key = Guid.NewGuid().ToString("N");
        string first;
        using (var force = Post($"v1/migrations/{id}/force-complete", key))
        using (var answer = await cloud.SendAsync(force))
        {
            first = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.StatusCode == HttpStatusCode.Accepted, first);
            Assert.Equal($"/v1/migrations/{id}", answer.Headers.Location?.ToString());
        }

        using (var replay = Post($"v1/migrations/{id}/force-complete", key))
        using (var answer = await cloud.SendAsync(replay))
        {
            Assert.Equal(HttpStatusCode.Accepted, answer.StatusCode);
            Assert.Equal("true", answer.Headers.GetValues("Idempotent-Replayed").Single());
            Assert.Equal(first, await answer.Content.ReadAsStringAsync());
        }

        var final = await PollAsync(cloud, id, m => m.GetProperty("phase").GetString() is "completed" or "rolled_back" or "failed");
        Assert.Equal("completed", final.GetProperty("phase").GetString());
        Assert.Equal("forced", final.GetProperty("switchover_reason").GetString());
        Assert.Equal(b, (await fixture.Registry.GetVmAsync(vm)).HostId);

        using var op = fixture.Http(fixture.OperatorKey);
        using (var late = await op.PostAsync($"v1/migrations/{id}/force-complete", null))
        {
            var problem = await Problems.AssertAsync(late, HttpStatusCode.Conflict, "conflict", "migration_id");
            Assert.Contains("completed", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using (var missing = await op.PostAsync("v1/migrations/mig-000000000000/force-complete", null))
        {
            await Problems.AssertAsync(missing, HttpStatusCode.NotFound, "not_found", "migration_id");
        }

        using var log = await op.GetAsync("v1/audit-log?limit=1000");
        var entries = (await ReadJsonAsync(log)).GetProperty("items").EnumerateArray()
            .Where(e => e.GetProperty("path").GetString() == $"/v1/migrations/{id}/force-complete").ToList();
        Assert.Contains(entries, e => e.GetProperty("who").GetString() == "cloud-1" && e.GetProperty("status").GetInt32() == 202);
        Assert.Contains(entries, e => e.GetProperty("who").GetString() == "operator-1" && e.GetProperty("status").GetInt32() == 409);
        Assert.Contains(entries, e => e.GetProperty("who").GetString() == "viewer-1" && e.GetProperty("status").GetInt32() == 403);
    }

    private static HttpRequestMessage Post(string path, string idempotencyKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path);
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        return request;
    }

    private static Task<System.Text.Json.JsonElement> PollAsync(HttpClient http, string id, Func<System.Text.Json.JsonElement, bool> done) =>
        Poll.UntilAsync(http, $"v1/migrations/{id}", done, seconds: 90);
}
