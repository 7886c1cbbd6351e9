using System.Net;
using OrleansMigrate.Tests.Shared;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary><c>Idempotency-Key</c>: a retry gets the first answer and does nothing twice; the key with another body is 422.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class IdempotencyTests(ApiFixture fixture)
{
    private static HttpRequestMessage Post(string path, string body, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = RawJson(body) };
        request.Headers.Add("Idempotency-Key", key);
        return request;
    }

    [Fact]
    public async Task The_same_key_and_body_replays_the_first_answer_and_creates_once()
    {
        var (a, _) = await fixture.HostsAsync();
        using var cloud = fixture.Http(fixture.CloudKey);
        var vm = NewId("vm");
        var body = $$"""{"vm_id":"{{vm}}","host_id":"{{a}}","vcpus":1,"memory_mib":512}""";
        var key = Guid.NewGuid().ToString();

        using var first = await cloud.SendAsync(Post("v1/vms", body, key));
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var firstBody = await first.Content.ReadAsStringAsync();

        // Without the key the same request is a conflict (the VM exists); with it, the first answer again.
        using var second = await cloud.SendAsync(Post("v1/vms", body, key));
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Equal(firstBody, await second.Content.ReadAsStringAsync());
        Assert.Equal(first.Headers.Location, second.Headers.Location);
        Assert.Equal("true", second.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Single((await fixture.Registry.ListVmsAsync()).Where(v => v.VmId == vm));

        using var plain = await cloud.PostAsync("v1/vms", RawJson(body));
        await Problems.AssertAsync(plain, HttpStatusCode.Conflict, "conflict");
    }

    [Fact]
    public async Task The_same_key_with_another_body_is_422_and_changes_nothing()
    {
        var (a, _) = await fixture.HostsAsync();
        using var cloud = fixture.Http(fixture.CloudKey);
        var key = Guid.NewGuid().ToString();
        var vm1 = NewId("vm");
        var vm2 = NewId("vm");
        using var first = await cloud.SendAsync(Post("v1/vms", $$"""{"vm_id":"{{vm1}}","host_id":"{{a}}","vcpus":1,"memory_mib":512}""", key));
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);

        using var reused = await cloud.SendAsync(Post("v1/vms", $$"""{"vm_id":"{{vm2}}","host_id":"{{a}}","vcpus":1,"memory_mib":512}""", key));
        await Problems.AssertAsync(reused, HttpStatusCode.UnprocessableEntity, "idempotency_key_reused", "idempotency-key");
        Assert.DoesNotContain(await fixture.Registry.ListVmsAsync(), v => v.VmId == vm2);
    }

    [Fact]
    public async Task After_its_expiry_a_key_is_free_for_a_new_request()
    {
        // A second API on the same silo whose keys live one second.
        await using var shortLived = await Hosting.OmigApiServer.StartAsync(fixture.Registry.Grains,
            new Hosting.OmigApiOptions { InsecureNoAuth = true, IdempotencyHours = 1.0 / 3600 }, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        using var http = new HttpClient { BaseAddress = shortLived.Address, Timeout = TimeSpan.FromSeconds(60) };
        var (a, _) = await fixture.HostsAsync();
        var key = Guid.NewGuid().ToString();
        using var first = await http.SendAsync(Post("v1/vms", $$"""{"vm_id":"{{NewId("vm")}}","host_id":"{{a}}","vcpus":1,"memory_mib":512}""", key));
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);

        var second = NewId("vm");
        var body = $$"""{"vm_id":"{{second}}","host_id":"{{a}}","vcpus":1,"memory_mib":512}""";
        await Eventually.UntilAsync(async () =>
        {
            using var response = await http.SendAsync(Post("v1/vms", body, key));
            Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.UnprocessableEntity, $"unexpected {(int)response.StatusCode}");
            return response.StatusCode;
        }, status => status == HttpStatusCode.Created, TimeSpan.FromSeconds(30), "the expired key takes the new request",
            TimeSpan.FromMilliseconds(100));
        Assert.Single((await fixture.Registry.ListVmsAsync()).Where(v => v.VmId == second));
    }

    [Fact]
    public async Task A_refused_request_is_replayed_as_refused_and_a_bad_key_is_400()
    {
        using var op = fixture.Http(fixture.OperatorKey);
        var key = Guid.NewGuid().ToString();
        var body = """{"host_id":"x","cores":0,"memory_mib":4096}""";
        using var first = await op.SendAsync(Post("v1/hosts", body, key));
        await Problems.AssertAsync(first, HttpStatusCode.BadRequest, "invalid_argument", "cores");
        using var again = await op.SendAsync(Post("v1/hosts", body, key));
        await Problems.AssertAsync(again, HttpStatusCode.BadRequest, "invalid_argument", "cores");
        Assert.Equal("true", again.Headers.GetValues("Idempotent-Replayed").Single());

        using var bad = await op.SendAsync(Post("v1/hosts", body, "has space"));
        await Problems.AssertAsync(bad, HttpStatusCode.BadRequest, "invalid_argument", "idempotency-key");
    }
}
