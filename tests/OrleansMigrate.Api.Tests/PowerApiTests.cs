using System.Net;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>The power manager over HTTP: a plan for one rack of this test's own, host power off and on, the status, and bad
/// input refused with its field and nothing changed.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class PowerApiTests(ApiFixture fixture)
{
    [Fact]
    public async Task A_power_plan_and_host_power_work_over_http_and_bad_input_is_refused()
    {
        using var op = fixture.Http(fixture.OperatorKey);
        var rack = NewId("rk");
        var hosts = new[] { NewId("h"), NewId("h") };
        foreach (var id in hosts)
        {
            using var added = await op.PostAsync("v1/hosts", JsonBody(new
            {
                host_id = id, cores = 32, memory_mib = 65536, cpu_features = new[] { "avx" }, labels = new Dictionary<string, string> { ["rack"] = rack },
            }));
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }

        using (var bad = await op.PostAsync("v1/power/plan", JsonBody(new { headroom_percent = 95 })))
        {
            await Problems.AssertAsync(bad, HttpStatusCode.BadRequest, "invalid_argument", "headroom");
        }

        using (var sideways = await op.PostAsync($"v1/power/hosts/{hosts[1]}", JsonBody(new { state = "sideways" })))
        {
            await Problems.AssertAsync(sideways, HttpStatusCode.BadRequest, "invalid_argument", "state");
        }

        using var created = await op.PostAsync("v1/power/plan", JsonBody(new { headroom_percent = 20, domain = rack }));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var plan = await ReadJsonAsync(created);
        Assert.Equal((1, "planned"), (plan.GetProperty("hosts_freed").GetInt32(), plan.GetProperty("state").GetString()));

        using var off = await op.PostAsync($"v1/power/hosts/{hosts[1]}", JsonBody(new { state = "off" }));
        Assert.Equal(HttpStatusCode.OK, off.StatusCode);
        Assert.Equal("off", (await ReadJsonAsync(off)).GetProperty("power").GetString());
        using var viewer = fixture.Http(fixture.ViewerKey);
        var status = await ReadJsonAsync(await viewer.GetAsync("v1/power"));
        Assert.Contains(hosts[1], status.GetProperty("hosts_off").EnumerateArray().Select(e => e.GetString()));
        using (var forbidden = await viewer.PostAsync($"v1/power/hosts/{hosts[1]}", JsonBody(new { state = "on" })))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        using var on = await op.PostAsync($"v1/power/hosts/{hosts[1]}", JsonBody(new { state = "on" }));
        Assert.Equal(HttpStatusCode.OK, on.StatusCode);
        Assert.Equal("on", (await ReadJsonAsync(on)).GetProperty("power").GetString());
    }
}
