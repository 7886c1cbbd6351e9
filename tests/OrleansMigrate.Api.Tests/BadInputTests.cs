using System.Net;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>Every malformed request is a problem naming the field, and the registry is the same afterwards.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class BadInputTests(ApiFixture fixture)
{
    public static TheoryData<string, string, HttpStatusCode, string, string> Cases() => new()
    {
        // path, body (HOST/VM replaced by fresh ids), status, code, field
        { "v1/hosts", """{"host_id":"HOST","cores":8,"memory_mib":4096,"colour":"red"}""", HttpStatusCode.BadRequest, "invalid_argument", "colour" },
        { "v1/hosts", """{"host_id":"HOST","cores":8,"memory_mib":4096""", HttpStatusCode.BadRequest, "invalid_argument", "body" },
        { "v1/hosts", """{"host_id":"HOST","cores":"eight","memory_mib":4096}""", HttpStatusCode.BadRequest, "invalid_argument", "cores" },
        { "v1/hosts", """{"host_id":"HOST","memory_mib":4096}""", HttpStatusCode.BadRequest, "invalid_argument", "cores" },
        { "v1/hosts", """{"host_id":"HOST","cores":0,"memory_mib":4096}""", HttpStatusCode.BadRequest, "invalid_argument", "cores" },
        { "v1/hosts", """{"host_id":"HOST-with-a-tail-that-goes-on-and-on-and-on-well-past-sixty-three-characters","cores":8,"memory_mib":4096}""", HttpStatusCode.BadRequest, "invalid_argument", "host_id" },
        { "v1/hosts", """{"host_id":"HOST\u0001","cores":8,"memory_mib":4096}""", HttpStatusCode.BadRequest, "invalid_argument", "host_id" },
        { "v1/hosts", """[1,2,3]""", HttpStatusCode.BadRequest, "invalid_argument", "body" },
        { "v1/hosts", "", HttpStatusCode.BadRequest, "invalid_argument", "body" },
        { "v1/vms", """{"vm_id":"NEWVM","host_id":"HOST","vcpus":2,"memory_mib":1024,"disks":[{"disk_id":"d-1","size_gib":1,"kind":"ssd"}]}""", HttpStatusCode.BadRequest, "invalid_argument", "kind" },
        { "v1/vms", """{"vm_id":"NEWVM","host_id":"nohost-HOST","vcpus":2,"memory_mib":1024}""", HttpStatusCode.NotFound, "not_found", "host_id" },
        { "v1/vms", """{"vm_id":"NEWVM","host_id":"HOST","vcpus":2,"memory_mib":1024,"nics":[null]}""", HttpStatusCode.BadRequest, "invalid_argument", "nics[0]" },
        { "v1/vms", """{"vm_id":"NEWVM","host_id":"HOST","vcpus":2,"memory_mib":1024,"vm_id":"NEWVM"}""", HttpStatusCode.BadRequest, "invalid_argument", "vm_id" },
        { "v1/migrations", """{"vm_id":"VM","destinaton_host":"HOST"}""", HttpStatusCode.BadRequest, "invalid_argument", "destinaton_host" },
        { "v1/migrations", """{"vm_id":"VM","mode":"sideways"}""", HttpStatusCode.BadRequest, "invalid_argument", "mode" },
        { "v1/migrations", """{"vm_id":"VM","mode":2}""", HttpStatusCode.BadRequest, "invalid_argument", "mode" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_bad_request_is_a_problem_naming_the_field_and_changes_nothing(string path, string body, HttpStatusCode status, string code, string field)
    {
        var (host, _) = await fixture.HostsAsync();
        var vm = NewId("vm");
        await fixture.Registry.CreateVmAsync(new Fleet.VmSpec(vm, 1, 512, [], "standard", System.Collections.Immutable.ImmutableDictionary<string, string>.Empty, [], [], []), host);
        var freshHost = NewId("h");
        var before = await SnapshotAsync();

        using var op = fixture.Http(fixture.OperatorKey);
        using var response = await op.PostAsync(path, RawJson(body.Replace("HOST", freshHost, StringComparison.Ordinal).Replace("\"NEWVM\"", $"\"{NewId("vm")}\"", StringComparison.Ordinal).Replace("\"VM\"", $"\"{vm}\"", StringComparison.Ordinal)));
        await Problems.AssertAsync(response, status, code, field);

        Assert.Equal(before, await SnapshotAsync());
        Assert.Null(await fixture.Registry.Grains.GetGrain<Fleet.IHostGrain>(freshHost).GetAsync());
    }

    [Fact]
    public async Task A_body_that_is_not_json_is_415_and_changes_nothing()
    {
        var before = await SnapshotAsync();
        using var op = fixture.Http(fixture.OperatorKey);
        using var response = await op.PostAsync("v1/hosts", new StringContent($"host_id={NewId("h")}&cores=8", System.Text.Encoding.UTF8, "application/x-www-form-urlencoded"));
        await Problems.AssertAsync(response, HttpStatusCode.UnsupportedMediaType, "invalid_argument", "content-type");
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task A_body_over_the_limit_is_413_and_changes_nothing()
    {
        var before = await SnapshotAsync();
        using var op = fixture.Http(fixture.OperatorKey);
        var big = $$"""{"host_id":"{{NewId("h")}}","cores":8,"memory_mib":4096,"cpu_model":"{{new string('x', MaxBodyBytes)}}"}""";
        using var response = await op.PostAsync("v1/hosts", RawJson(big));
        await Problems.AssertAsync(response, HttpStatusCode.RequestEntityTooLarge, "payload_too_large", "body");
        Assert.Equal(before, await SnapshotAsync());
    }

    [Theory]
    [InlineData("v1/hosts/Not_An_Id", "host_id")]
    [InlineData("v1/vms/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "vm_id")]
    [InlineData("v1/vms/vm%01x", "vm_id")]
    [InlineData("v1/migrations/MIG", "migration_id")]
    [InlineData("v1/hosts?limit=0", "limit")]
    [InlineData("v1/hosts?limit=abc", "limit")]
    [InlineData("v1/hosts?continuation=not-a-token", "continuation")]
    public async Task A_bad_id_or_query_is_a_400_problem_naming_it(string path, string field)
    {
        using var viewer = fixture.Http(fixture.ViewerKey);
        using var response = await viewer.GetAsync(path);
        await Problems.AssertAsync(response, HttpStatusCode.BadRequest, "invalid_argument", field);
    }

    [Fact]
    public async Task A_cordon_of_a_bad_host_id_is_refused_and_changes_nothing()
    {
        var before = await SnapshotAsync();
        using var op = fixture.Http(fixture.OperatorKey);
        using var response = await op.PostAsync("v1/hosts/BAD%01id/cordon", null);
        await Problems.AssertAsync(response, HttpStatusCode.BadRequest, "invalid_argument", "host_id");
        Assert.Equal(before, await SnapshotAsync());
    }

    /// <summary>Hosts (with scheduling and placed VMs), VMs (with host) and open migrations, as one comparable string.</summary>
    private async Task<string> SnapshotAsync()
    {
        var hosts = (await fixture.Registry.ListHostsAsync()).OrderBy(h => h.HostId, StringComparer.Ordinal)
            .Select(h => $"{h.HostId}:{h.Scheduling}:{string.Join(',', h.Vms.Keys.Order(StringComparer.Ordinal))}");
        var vms = (await fixture.Registry.ListVmsAsync()).OrderBy(v => v.VmId, StringComparer.Ordinal).Select(v => $"{v.VmId}@{v.HostId}");
        var migrations = (await fixture.Registry.ListMigrationsAsync(includeEnded: true)).Select(m => m.MigrationId).Order(StringComparer.Ordinal);
        return string.Join('\n', hosts.Concat(vms).Concat(migrations));
    }
}
