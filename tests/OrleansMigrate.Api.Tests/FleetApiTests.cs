using Microsoft.Extensions.DependencyInjection;
using System.Net;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>Hosts and VMs over HTTP, checked against the registry itself.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class FleetApiTests(ApiFixture fixture)
{
    [Fact]
    public async Task Hosts_and_vms_are_created_read_listed_cordoned_and_deleted()
    {
        var (a, b) = await fixture.HostsAsync();
        using var op = fixture.Http(fixture.OperatorKey);
        using var cloud = fixture.Http(fixture.CloudKey);

        using (var host = await op.GetAsync($"v1/hosts/{a}"))
        {
            var json = await ReadJsonAsync(host);
            Assert.Equal(a, json.GetProperty("spec").GetProperty("host_id").GetString());
            Assert.Equal("schedulable", json.GetProperty("scheduling").GetString());
            Assert.Equal(65536, json.GetProperty("spec").GetProperty("memory_mib").GetInt64()); // the request's name, not memory_mi_b
        }

        var vm = NewId("vm");
        using (var created = await cloud.PostAsync("v1/vms", JsonBody(new
        {
            vm_id = vm, host_id = a, vcpus = 2, memory_mib = 1024,
            disks = new[] { new { disk_id = vm + "-root", size_gib = 10 } },
            nics = new[] { new { vpc_id = "vpc-api", ip = "10.9.0.5" } },
        })))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.Equal($"/v1/vms/{vm}", created.Headers.Location?.ToString());
        }

        Assert.Equal(a, (await fixture.Registry.GetVmAsync(vm)).HostId);

        using (var cordon = await op.PostAsync($"v1/hosts/{b}/cordon", null))
        {
            Assert.Equal(HttpStatusCode.OK, cordon.StatusCode);
            Assert.Equal("cordoned", (await ReadJsonAsync(cordon)).GetProperty("scheduling").GetString());
        }

        Assert.Equal(Fleet.SchedulingState.Cordoned, (await fixture.Registry.GetHostAsync(b)).Scheduling);
        using (var uncordon = await op.PostAsync($"v1/hosts/{b}/uncordon", null))
        {
            Assert.Equal(HttpStatusCode.OK, uncordon.StatusCode);
        }

        Assert.Equal(Fleet.SchedulingState.Schedulable, (await fixture.Registry.GetHostAsync(b)).Scheduling);

        using (var deleted = await cloud.DeleteAsync($"v1/vms/{vm}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        using var gone = await cloud.GetAsync($"v1/vms/{vm}");
        await Problems.AssertAsync(gone, HttpStatusCode.NotFound, "not_found", "vm_id");
    }

    [Fact]
    public async Task Lists_page_with_limit_and_an_opaque_continuation_token_until_every_item_was_seen_once()
    {
        await fixture.HostsAsync();
        await fixture.HostsAsync();
        using var viewer = fixture.Http(fixture.ViewerKey);
        var expected = (await fixture.Registry.ListHostsAsync()).Select(h => h.HostId).Order(StringComparer.Ordinal).ToList();
        var seen = new List<string>();
        string? next = null;
        for (var page = 0; page < 1000; page++)
        {
            using var response = await viewer.GetAsync(next is null ? "v1/hosts?limit=3" : $"v1/hosts?limit=3&continuation={Uri.EscapeDataString(next)}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var json = await ReadJsonAsync(response);
            var items = json.GetProperty("items").EnumerateArray().Select(h => h.GetProperty("spec").GetProperty("host_id").GetString()!).ToList();
            Assert.True(items.Count <= 3);
            seen.AddRange(items);
            next = json.GetProperty("next").GetString();
            if (next is null)
            {
                break;
            }
        }

        Assert.Null(next);
        // Other tests may add hosts meanwhile: every host listed before paging began is seen exactly once, in order.
        Assert.Equal(seen.Distinct().Count(), seen.Count);
        Assert.Equal(seen.Order(StringComparer.Ordinal), seen);
        Assert.Empty(expected.Except(seen));
    }

    [Fact]
    public async Task Vms_page_in_ordinal_id_order_through_the_index_shards_each_seen_once_and_filters_keep_paging()
    {
        var (a, b) = await fixture.HostsAsync();
        using var cloud = fixture.Http(fixture.CloudKey);
        using var viewer = fixture.Http(fixture.ViewerKey);

        // Ids with and without a hyphen before the digits: ordinal order puts every "a-" before every "a0"; a culture-aware
        // order may weigh the hyphen differently, and a walk in any order but the continuation's would repeat or skip VMs.
        var prefix = NewId("pg");
        var mine = Enumerable.Range(0, 12).Select(i => $"{prefix}-{(i % 2 == 0 ? "a-" : "a")}{i:00}").ToList();
        foreach (var (id, i) in mine.Select((id, i) => (id, i)))
        {
            using var created = await cloud.PostAsync("v1/vms", JsonBody(new { vm_id = id, host_id = i < 6 ? a : b, vcpus = 1, memory_mib = 256 }));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        var expected = (await fixture.Registry.ListVmsAsync()).Select(v => v.VmId).ToList();
        var seen = await WalkAsync(viewer, "v1/vms?limit=4");
        Assert.Equal(seen.Distinct().Count(), seen.Count);
        Assert.Equal(seen.Order(StringComparer.Ordinal), seen);
        Assert.Empty(expected.Except(seen));
        Assert.Empty(mine.Except(seen));

        // A filter that matches nothing pages to the end with one empty page; one that matches pages like the unfiltered walk.
        var running = await WalkAsync(viewer, "v1/vms?limit=3&state=running");
        Assert.Equal(running.Order(StringComparer.Ordinal), running);
        Assert.Empty(mine.Except(running));
        Assert.Empty(await WalkAsync(viewer, "v1/vms?limit=3&changed_since=2999-01-01T00:00:00Z"));
    }

    [Fact]
    public async Task A_filtered_vm_page_reads_at_most_MaxVmScan_vms_and_answers_short_with_a_next_that_resumes()
    {
        // Enough VMs that a scan limit of 3 cuts the walk many times (other tests add more).
        var (a, _) = await fixture.HostsAsync();
        using var cloud = fixture.Http(fixture.CloudKey);
        for (var i = 0; i < 7; i++)
        {
            using var created = await cloud.PostAsync("v1/vms", JsonBody(new { vm_id = NewId("sc"), host_id = a, vcpus = 1, memory_mib = 256 }));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        var total = (await fixture.Registry.ListVmsAsync()).Length;

        // The handler itself, with its own options (a second API server in this process would start a second metrics
        // provider beside the fixture's).
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection()
            .AddSingleton(Microsoft.Extensions.Options.Options.Create(new Api.Hosting.OmigApiOptions { MaxVmScan = 3 }))
            .BuildServiceProvider();
        var omig = new Client.OmigClient(fixture.Grains);
        async Task<Api.Resources.Page<Fleet.VmRecord>> PageAsync(string query)
        {
            var context = new Microsoft.AspNetCore.Http.DefaultHttpContext { RequestServices = services };
            context.Request.QueryString = new Microsoft.AspNetCore.Http.QueryString(query);
            return await Api.Resources.ListFilters.VmPageAsync(context, omig);
        }

        // Nothing changed after 2999: no page has items, yet the first has a next (it stopped after 3 VMs, not at the end).
        const string Nothing = "?limit=100&changed_since=2999-01-01T00:00:00Z";
        var first = await PageAsync(Nothing);
        Assert.Empty(first.Items);
        Assert.NotNull(first.Next);

        var pages = 1;
        for (var next = first.Next; next is not null && pages < 10_000; pages++)
        {
            var page = await PageAsync($"{Nothing}&continuation={Uri.EscapeDataString(next)}");
            Assert.Empty(page.Items);
            next = page.Next;
        }

        Assert.True(pages >= total / 3, $"{pages} pages for {total} VMs read 3 at a time");

        // Unfiltered, the limit is the page: no cut.
        Assert.Equal(5, (await PageAsync("?limit=5")).Items.Count);
    }

    private static async Task<List<string>> WalkAsync(HttpClient http, string first)
    {
        var seen = new List<string>();
        string? next = null;
        for (var page = 0; page < 1000; page++)
        {
            using var response = await http.GetAsync(next is null ? first : $"{first}&continuation={Uri.EscapeDataString(next)}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var json = await ReadJsonAsync(response);
            seen.AddRange(json.GetProperty("items").EnumerateArray().Select(v => v.GetProperty("vm_id").GetString()!));
            next = json.GetProperty("next").GetString();
            if (next is null)
            {
                return seen;
            }
        }

        throw new InvalidOperationException($"{first}: still a next page after 1000 pages");
    }
}
