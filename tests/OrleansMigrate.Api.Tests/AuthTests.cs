using System.Net;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>Bearer keys and roles: 401 without a known key, 403 for a role that may not, and the audit log of mutations.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class AuthTests(ApiFixture fixture)
{
    [Fact]
    public async Task No_key_or_an_unknown_key_is_401_problem()
    {
        using var none = fixture.Http(null);
        using var noKey = await none.GetAsync("v1/hosts");
        await Problems.AssertAsync(noKey, HttpStatusCode.Unauthorized, "unauthenticated", "authorization");
        Assert.Contains("Bearer", noKey.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

        using var wrong = fixture.Http("not-a-key");
        using var wrongKey = await wrong.PostAsync("v1/hosts", JsonBody(new { host_id = NewId("h"), cores = 8, memory_mib = 4096 }));
        await Problems.AssertAsync(wrongKey, HttpStatusCode.Unauthorized, "unauthenticated", "authorization");
    }

    [Fact]
    public async Task Each_role_may_do_what_it_is_for_and_no_more()
    {
        var (a, _) = await fixture.HostsAsync();
        var before = (await fixture.Registry.ListVmsAsync()).Length;
        using var viewer = fixture.Http(fixture.ViewerKey);
        using var cloud = fixture.Http(fixture.CloudKey);

        using (var read = await viewer.GetAsync($"v1/hosts/{a}"))
        {
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        }

        using (var refused = await viewer.PostAsync("v1/vms", JsonBody(new { vm_id = NewId("vm"), host_id = a, vcpus = 1, memory_mib = 512 })))
        {
            await Problems.AssertAsync(refused, HttpStatusCode.Forbidden, "forbidden", "authorization");
        }

        Assert.Equal(before, (await fixture.Registry.ListVmsAsync()).Length);
        using (var cordon = await cloud.PostAsync($"v1/hosts/{a}/cordon", null))
        {
            await Problems.AssertAsync(cordon, HttpStatusCode.Forbidden, "forbidden", "authorization");
        }

        Assert.Equal(Fleet.SchedulingState.Schedulable, (await fixture.Registry.GetHostAsync(a)).Scheduling);
        using (var log = await cloud.GetAsync("v1/audit-log"))
        {
            await Problems.AssertAsync(log, HttpStatusCode.Forbidden, "forbidden", "authorization");
        }

        using var created = await cloud.PostAsync("v1/vms", JsonBody(new { vm_id = NewId("vm"), host_id = a, vcpus = 1, memory_mib = 512 }));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
    }

    [Fact]
    public async Task Every_mutating_request_is_in_the_audit_log_with_who_what_and_the_status_refused_ones_too()
    {
        var (a, _) = await fixture.HostsAsync();
        using var viewer = fixture.Http(fixture.ViewerKey);
        using var op = fixture.Http(fixture.OperatorKey);
        using (await viewer.PostAsync($"v1/hosts/{a}/cordon", null))
        {
        }

        using (await op.PostAsync($"v1/hosts/{a}/cordon", null))
        {
        }

        using var log = await op.GetAsync("v1/audit-log?limit=1000");
        Assert.Equal(HttpStatusCode.OK, log.StatusCode);
        var entries = (await ReadJsonAsync(log)).GetProperty("items").EnumerateArray()
            .Where(e => e.GetProperty("path").GetString() == $"/v1/hosts/{a}/cordon").ToList();
        Assert.Contains(entries, e => e.GetProperty("who").GetString() == "viewer-1" && e.GetProperty("status").GetInt32() == 403 && e.GetProperty("method").GetString() == "POST");
        Assert.Contains(entries, e => e.GetProperty("who").GetString() == "operator-1" && e.GetProperty("status").GetInt32() == 200);
        Assert.Contains((await ReadJsonAsync(await op.GetAsync("v1/audit-log?limit=1000"))).GetProperty("items").EnumerateArray(),
            e => e.GetProperty("path").GetString() == "/v1/hosts" && e.GetProperty("who").GetString() == "operator-1" && e.GetProperty("status").GetInt32() == 201);
    }
}
