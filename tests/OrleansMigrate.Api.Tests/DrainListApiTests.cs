using System.Net;
using System.Text.Json;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>GET /v1/drains: every host's current or last drain in one paged call, filtered by state; bad filters refused.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class DrainListApiTests(ApiFixture fixture)
{
    private static async Task<JsonElement[]> ListAsync(HttpClient http, string query = "")
    {
        using var response = await http.GetAsync("v1/drains?limit=1000" + query);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return [.. (await ReadJsonAsync(response)).GetProperty("items").EnumerateArray()];
    }

    [Fact]
    public async Task The_list_holds_each_drained_host_once_with_its_vms_and_filters_by_state()
    {
        var (a, b) = await fixture.HostsAsync();
        var vm = NewId("vm");
        using var cloud = fixture.Http(fixture.CloudKey);
        using (var created = await cloud.PostAsync("v1/vms", JsonBody(new { vm_id = vm, host_id = a, vcpus = 2, memory_mib = 512, required_cpu_features = new[] { "avx" } })))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using var viewer = fixture.Http(fixture.ViewerKey);
        using var op = fixture.Http(fixture.OperatorKey);
        Assert.DoesNotContain(await ListAsync(viewer), d => d.GetProperty("host_id").GetString() is var h && (h == a || h == b));

        using (var accepted = await op.PostAsync($"v1/hosts/{a}/drain", JsonBody(new { preflight = false })))
        {
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        await Poll.UntilAsync(viewer, $"v1/hosts/{a}/drain", d => d.GetProperty("state").GetString() is "completed" or "incomplete" or "aborted");
        var all = await ListAsync(viewer);
        var drain = Assert.Single(all, d => d.GetProperty("host_id").GetString() == a);
        Assert.Equal("completed", drain.GetProperty("state").GetString());
        var moved = Assert.Single(drain.GetProperty("vms").EnumerateArray());
        Assert.Equal(vm, moved.GetProperty("vm_id").GetString());
        Assert.Equal("moved", moved.GetProperty("state").GetString());
        Assert.DoesNotContain(all, d => d.GetProperty("host_id").GetString() == b); // never drained: not listed

        Assert.Contains(await ListAsync(viewer, "&state=completed"), d => d.GetProperty("host_id").GetString() == a);
        Assert.DoesNotContain(await ListAsync(viewer, "&state=running"), d => d.GetProperty("host_id").GetString() == a);

        // Paged like every list: limit is honoured.
        using (var first = await viewer.GetAsync("v1/drains?limit=1"))
        {
            Assert.Single((await ReadJsonAsync(first)).GetProperty("items").EnumerateArray());
        }
    }

    [Fact]
    public async Task A_bad_state_or_a_missing_key_is_refused_with_a_problem()
    {
        using var viewer = fixture.Http(fixture.ViewerKey);
        using (var bad = await viewer.GetAsync("v1/drains?state=finished"))
        {
            var problem = await Problems.AssertAsync(bad, HttpStatusCode.BadRequest, "invalid_argument", "state");
            Assert.Contains("completed", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using var anonymous = fixture.Http(null);
        using var refused = await anonymous.GetAsync("v1/drains");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }
}
