using System.Globalization;
using System.Net;
using System.Text.Json;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>The list filters <c>state</c> and <c>changed_since</c> on VMs and migrations, and their bad values.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class FilterTests(ApiFixture fixture)
{
    private static string Rfc3339(DateTimeOffset at) => Uri.EscapeDataString(at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));

    private static async Task<List<JsonElement>> ItemsAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return [.. (await ReadJsonAsync(response)).GetProperty("items").EnumerateArray()];
    }

    [Fact]
    public async Task Migrations_and_vms_filter_by_state_and_changed_since()
    {
        var (a, b) = await fixture.HostsAsync();
        var before = DateTimeOffset.UtcNow.AddMinutes(-1);
        var vm = NewId("vm");
        using var cloud = fixture.Http(fixture.CloudKey);
        using (var created = await cloud.PostAsync("v1/vms", JsonBody(new { vm_id = vm, host_id = a, vcpus = 1, memory_mib = 256 })))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using var accepted = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b }));
        var id = (await ReadJsonAsync(accepted)).GetProperty("migration_id").GetString();
        await Poll.UntilAsync(cloud, $"v1/migrations/{id}", m => m.GetProperty("phase").GetString() is "completed" or "rolled_back" or "failed");
        var future = DateTimeOffset.UtcNow.AddDays(1);

        var completed = await ItemsAsync(cloud, "v1/migrations?state=completed&limit=1000");
        Assert.Contains(completed, m => m.GetProperty("migration_id").GetString() == id);
        Assert.All(completed, m => Assert.Equal("completed", m.GetProperty("phase").GetString()));
        Assert.DoesNotContain(await ItemsAsync(cloud, "v1/migrations?state=queued&limit=1000"), m => m.GetProperty("migration_id").GetString() == id);
        Assert.Contains(await ItemsAsync(cloud, $"v1/migrations?changed_since={Rfc3339(before)}&limit=1000"), m => m.GetProperty("migration_id").GetString() == id);
        Assert.Empty(await ItemsAsync(cloud, $"v1/migrations?changed_since={Rfc3339(future)}"));

        var running = await ItemsAsync(cloud, $"v1/vms?state=running&changed_since={Rfc3339(before)}&limit=1000");
        Assert.Contains(running, v => v.GetProperty("vm_id").GetString() == vm);
        Assert.All(running, v => Assert.Equal("running", v.GetProperty("power").GetString()));
        Assert.DoesNotContain(await ItemsAsync(cloud, "v1/vms?state=stopped&limit=1000"), v => v.GetProperty("vm_id").GetString() == vm);
        Assert.Empty(await ItemsAsync(cloud, $"v1/vms?changed_since={Rfc3339(future)}"));
    }

    [Theory]
    [InlineData("v1/migrations?state=finished", "state")]
    [InlineData("v1/migrations?state=completed&state=failed", "state")]
    [InlineData("v1/migrations?changed_since=yesterday", "changed_since")]
    [InlineData("v1/migrations?changed_since=2026-01-31T12:00:00", "changed_since")]
    [InlineData("v1/migrations?changed_since=2026-13-01T00:00:00Z", "changed_since")]
    [InlineData("v1/vms?state=Running", "state")]
    [InlineData("v1/vms?changed_since=2026-01-31", "changed_since")]
    public async Task A_bad_filter_is_a_400_naming_the_parameter(string path, string field)
    {
        using var viewer = fixture.Http(fixture.ViewerKey);
        using var response = await viewer.GetAsync(path);
        await Problems.AssertAsync(response, HttpStatusCode.BadRequest, "invalid_argument", field);
    }
}
