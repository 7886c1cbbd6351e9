using System.Net;
using System.Net.Http.Headers;
using OrleansMigrate.Fleet;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>ETags on single-resource reads, If-Match on single-resource changes: a stale version is 412 and changes nothing.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class VersionTests(ApiFixture fixture)
{
    private static HttpRequestMessage IfMatch(HttpMethod method, string path, string etag)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.TryAddWithoutValidation("If-Match", etag);
        return request;
    }

    private static async Task<string> ETagAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var etag = response.Headers.ETag;
        Assert.NotNull(etag);
        Assert.False(etag.IsWeak);
        return etag.Tag;
    }

    [Fact]
    public async Task A_host_read_twice_has_one_version_and_a_cordon_with_a_stale_one_is_refused_and_changes_nothing()
    {
        var (a, _) = await fixture.HostsAsync();
        using var op = fixture.Http(fixture.OperatorKey);
        var first = await ETagAsync(op, $"v1/hosts/{a}");
        Assert.Equal(first, await ETagAsync(op, $"v1/hosts/{a}"));

        using (var conditional = new HttpRequestMessage(HttpMethod.Get, $"v1/hosts/{a}"))
        {
            conditional.Headers.IfNoneMatch.Add(new EntityTagHeaderValue(first));
            using var notModified = await op.SendAsync(conditional);
            Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        }

        using (var stale = await op.SendAsync(IfMatch(HttpMethod.Post, $"v1/hosts/{a}/cordon", "\"0123456789abcdef0123456789abcdef\"")))
        {
            await Problems.AssertAsync(stale, HttpStatusCode.PreconditionFailed, "precondition_failed", "if-match");
            Assert.Equal(first, stale.Headers.ETag?.Tag); // the current version, to retry with
        }

        Assert.Equal(SchedulingState.Schedulable, (await fixture.Registry.GetHostAsync(a)).Scheduling);

        using (var weak = await op.SendAsync(IfMatch(HttpMethod.Post, $"v1/hosts/{a}/cordon", "W/" + first)))
        {
            await Problems.AssertAsync(weak, HttpStatusCode.PreconditionFailed, "precondition_failed", "if-match"); // If-Match compares strongly
        }

        using (var cordon = await op.SendAsync(IfMatch(HttpMethod.Post, $"v1/hosts/{a}/cordon", first)))
        {
            Assert.Equal(HttpStatusCode.OK, cordon.StatusCode);
        }

        var second = await ETagAsync(op, $"v1/hosts/{a}");
        Assert.NotEqual(first, second);

        // The version read before the cordon is stale now: the uncordon is refused and the host stays cordoned.
        using (var stale = await op.SendAsync(IfMatch(HttpMethod.Post, $"v1/hosts/{a}/uncordon", first)))
        {
            await Problems.AssertAsync(stale, HttpStatusCode.PreconditionFailed, "precondition_failed", "if-match");
        }

        Assert.Equal(SchedulingState.Cordoned, (await fixture.Registry.GetHostAsync(a)).Scheduling);
        using (var uncordon = await op.SendAsync(IfMatch(HttpMethod.Post, $"v1/hosts/{a}/uncordon", $"\"other\", {second}")))
        {
            Assert.Equal(HttpStatusCode.OK, uncordon.StatusCode);
        }

        Assert.Equal(SchedulingState.Schedulable, (await fixture.Registry.GetHostAsync(a)).Scheduling);
    }

    [Fact]
    public async Task A_vm_delete_with_a_stale_version_is_refused_and_the_vm_stays()
    {
        var (a, _) = await fixture.HostsAsync();
        var vm = NewId("vm");
        using var cloud = fixture.Http(fixture.CloudKey);
        using (var created = await cloud.PostAsync("v1/vms", JsonBody(new { vm_id = vm, host_id = a, vcpus = 1, memory_mib = 256 })))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        var etag = await ETagAsync(cloud, $"v1/vms/{vm}");
        using (var stale = await cloud.SendAsync(IfMatch(HttpMethod.Delete, $"v1/vms/{vm}", "\"not-the-version\"")))
        {
            await Problems.AssertAsync(stale, HttpStatusCode.PreconditionFailed, "precondition_failed", "if-match");
        }

        Assert.Equal(a, (await fixture.Registry.GetVmAsync(vm)).HostId);
        using (var deleted = await cloud.SendAsync(IfMatch(HttpMethod.Delete, $"v1/vms/{vm}", etag)))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        Assert.DoesNotContain(await fixture.Registry.ListVmsAsync(), v => v.VmId == vm);

        // Gone: the precondition cannot be read, and the answer is the endpoint's own 404, not a 412.
        using var again = await cloud.SendAsync(IfMatch(HttpMethod.Delete, $"v1/vms/{vm}", etag));
        await Problems.AssertAsync(again, HttpStatusCode.NotFound, "not_found", "vm_id");
    }

    [Fact]
    public async Task A_migration_has_a_version_and_a_cancel_with_a_stale_one_is_412_before_anything_else()
    {
        var (a, b) = await fixture.HostsAsync();
        var vm = NewId("vm");
        using var cloud = fixture.Http(fixture.CloudKey);
        using (var created = await cloud.PostAsync("v1/vms", JsonBody(new { vm_id = vm, host_id = a, vcpus = 1, memory_mib = 256 })))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using var accepted = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b }));
        var location = accepted.Headers.Location!.ToString().TrimStart('/');
        var ended = await Poll.UntilAsync(cloud, location, m => m.GetProperty("phase").GetString() is "completed" or "rolled_back" or "failed");
        var etag = await ETagAsync(cloud, location);
        Assert.Equal(etag, await ETagAsync(cloud, location)); // an ended migration no longer changes

        using var op = fixture.Http(fixture.OperatorKey);
        using (var stale = await op.SendAsync(IfMatch(HttpMethod.Delete, location, "\"stale\"")))
        {
            await Problems.AssertAsync(stale, HttpStatusCode.PreconditionFailed, "precondition_failed", "if-match");
        }

        // With the current version the cancel reaches the endpoint, which refuses an ended migration with its reason.
        using (var current = await op.SendAsync(IfMatch(HttpMethod.Delete, location, etag)))
        {
            await Problems.AssertAsync(current, HttpStatusCode.Conflict, "conflict", "migration_id");
        }

        Assert.Equal(ended.GetProperty("phase").GetString(), (await ReadJsonAsync(await cloud.GetAsync(location))).GetProperty("phase").GetString());
        Assert.Equal(etag, await ETagAsync(cloud, location));
    }
}
