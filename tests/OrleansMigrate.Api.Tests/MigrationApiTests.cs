using System.Net;
using System.Text.Json;
using OrleansMigrate.Tests.Shared;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>A live migration requested over HTTP: 202 + Location, followed by polling and by server-sent events.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class MigrationApiTests(ApiFixture fixture)
{
    private async Task<string> VmAsync(string host)
    {
        var vm = NewId("vm");
        using var cloud = fixture.Http(fixture.CloudKey);
        using var created = await cloud.PostAsync("v1/vms", JsonBody(new { vm_id = vm, host_id = host, vcpus = 2, memory_mib = 512, required_cpu_features = new[] { "avx" } }));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return vm;
    }

    [Fact]
    public async Task A_migration_is_accepted_with_its_location_polled_to_completion_and_moves_the_vm()
    {
        var (a, b) = await fixture.HostsAsync();
        var vm = await VmAsync(a);
        using var cloud = fixture.Http(fixture.CloudKey);
        using var accepted = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b }));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var location = accepted.Headers.Location?.ToString();
        var id = (await ReadJsonAsync(accepted)).GetProperty("migration_id").GetString();
        Assert.Equal($"/v1/migrations/{id}", location);

        var ended = await Poll.UntilAsync(cloud, location!.TrimStart('/'), m => m.GetProperty("phase").GetString() is "completed" or "rolled_back" or "failed", 60);
        Assert.Equal("completed", ended.GetProperty("phase").GetString());
        Assert.Equal(b, (await fixture.Registry.GetVmAsync(vm)).HostId);

        // Cancelling an ended migration is refused, with the reason.
        using var op = fixture.Http(fixture.OperatorKey);
        using var cancel = await op.DeleteAsync(location!.TrimStart('/'));
        var problem = await Problems.AssertAsync(cancel, HttpStatusCode.Conflict, "conflict", "migration_id");
        Assert.Contains("ended", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        using var list = await cloud.GetAsync("v1/migrations?limit=1000");
        Assert.Contains((await ReadJsonAsync(list)).GetProperty("items").EnumerateArray(), m => m.GetProperty("migration_id").GetString() == id);
    }

    [Theory]
    [InlineData("no_relay")]
    [InlineData("no_session_copy")]
    public async Task A_comparison_mode_is_accepted_by_its_snake_case_name_and_read_back_so(string mode)
    {
        var (a, b) = await fixture.HostsAsync();
        var vm = await VmAsync(a);
        using var cloud = fixture.Http(fixture.CloudKey);
        using var accepted = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b, mode }));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);

        var ended = await Poll.UntilAsync(cloud, accepted.Headers.Location!.ToString().TrimStart('/'),
            m => m.GetProperty("phase").GetString() is "completed" or "rolled_back" or "failed", 60);
        Assert.Equal("completed", ended.GetProperty("phase").GetString());
        Assert.Equal(mode, ended.GetProperty("request").GetProperty("mode").GetString());
    }

    [Fact]
    public async Task Server_sent_events_stream_the_status_changes_with_ids_until_the_migration_ends()
    {
        var (a, b) = await fixture.HostsAsync();
        var vm = await VmAsync(a);
        using var viewer = fixture.Http(fixture.ViewerKey);
        using var cloud = fixture.Http(fixture.CloudKey);
        using var accepted = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b }));
        var id = (await ReadJsonAsync(accepted)).GetProperty("migration_id").GetString();

        using var request = new HttpRequestMessage(HttpMethod.Get, $"v1/migrations/{id}/events");
        using var response = await viewer.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var events = new List<(int Id, string Event, string Data)>();
        int? currentId = null;
        string? currentEvent = null;
        for (var lines = 0; lines < 100_000; lines++)
        {
            var line = await reader.ReadLineAsync();
            if (line is null)
            {
                break;
            }

            if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                currentId = int.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                currentEvent = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add((currentId!.Value, currentEvent!, line[6..]));
            }
        }

        Assert.Equal("end", events[^1].Event);
        var statuses = events.Where(e => e.Event == "status").Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
        Assert.NotEmpty(statuses);
        Assert.Equal("completed", statuses[^1].GetProperty("phase").GetString());
        Assert.All(statuses, s => Assert.Equal(id, s.GetProperty("migration_id").GetString()));
        Assert.Equal(Enumerable.Range(1, events.Count), events.Select(e => e.Id)); // ids increase by one
        Assert.Equal(b, (await fixture.Registry.GetVmAsync(vm)).HostId);

        // A reconnect after the end: the final status again, with ids going on from Last-Event-ID, then the end.
        using var again = new HttpRequestMessage(HttpMethod.Get, $"v1/migrations/{id}/events");
        again.Headers.Add("Last-Event-ID", "41");
        using var resumed = await viewer.SendAsync(again);
        var text = await resumed.Content.ReadAsStringAsync();
        Assert.StartsWith("id: 42\nevent: status\n", text, StringComparison.Ordinal);
        Assert.Contains("\"phase\":\"completed\"", text, StringComparison.Ordinal);
        Assert.EndsWith("id: 43\nevent: end\ndata: {}\n\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancelling_a_running_migration_is_accepted_and_rolls_back_or_is_refused_past_the_commit_point()
    {
        var (a, b) = await fixture.HostsAsync();
        var vm = await VmAsync(a);
        using var cloud = fixture.Http(fixture.CloudKey);
        using var op = fixture.Http(fixture.OperatorKey);
        using var accepted = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b }));
        var location = accepted.Headers.Location!.ToString().TrimStart('/');

        // Which side of the commit point the cancel lands on is the cluster's timing, not the test's: both answers are
        // checked for what they promise.
        using var cancel = await op.DeleteAsync(location);
        var end = await EndAsync(cloud, location);
        if (cancel.StatusCode == HttpStatusCode.Accepted)
        {
            // Accepted means asked for: a request that lands inside the switchover, after its last cancel check, is
            // overtaken by the commit. Anything earlier rolls back.
            var phaseAtCancel = (await ReadJsonAsync(cancel)).GetProperty("phase").GetString();
            if (end == "completed")
            {
                Assert.Equal("switchover", phaseAtCancel);
                Assert.Equal(b, (await fixture.Registry.GetVmAsync(vm)).HostId);
            }
            else
            {
                Assert.Equal("rolled_back", end);
                Assert.Equal(a, (await fixture.Registry.GetVmAsync(vm)).HostId);
            }
        }
        else
        {
            var problem = await Problems.AssertAsync(cancel, HttpStatusCode.Conflict, "conflict", "migration_id");
            Assert.Matches("commit point|ended", problem.GetProperty("detail").GetString()!);
            Assert.Equal("completed", end);
            Assert.Equal(b, (await fixture.Registry.GetVmAsync(vm)).HostId);
        }
    }

    /// <summary>Polls the migration (at most 60 s) until it ends; its last phase.</summary>
    private static Task<string?> EndAsync(HttpClient http, string location) =>
        Eventually.UntilAsync(async () =>
        {
            using var poll = await http.GetAsync(location);
            return (await ReadJsonAsync(poll)).GetProperty("phase").GetString();
        }, phase => phase is "completed" or "rolled_back" or "failed", TimeSpan.FromSeconds(60), $"{location} ends", TimeSpan.FromMilliseconds(100));

    [Fact]
    public async Task An_unknown_policy_is_a_problem_naming_it_and_starts_nothing()
    {
        var (a, b) = await fixture.HostsAsync();
        var vm = await VmAsync(a);
        var before = (await fixture.Registry.ListMigrationsAsync()).Length;
        using var cloud = fixture.Http(fixture.CloudKey);
        using var response = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b, policy = "no-such-policy" }));
        await Problems.AssertAsync(response, HttpStatusCode.BadRequest, "invalid_argument", "policy");
        Assert.Equal(before, (await fixture.Registry.ListMigrationsAsync()).Length);
        Assert.Equal(a, (await fixture.Registry.GetVmAsync(vm)).HostId);
    }

    [Fact]
    public async Task A_vm_with_a_passthrough_device_is_created_but_its_migration_is_refused_with_the_reason()
    {
        var (a, b) = await fixture.HostsAsync();
        var vm = NewId("vm");
        using var cloud = fixture.Http(fixture.CloudKey);
        using (var created = await cloud.PostAsync("v1/vms", JsonBody(new
        {
            vm_id = vm, host_id = a, vcpus = 1, memory_mib = 512, passthrough_devices = new[] { new { address = "0000:3b:00.0", kind = "gpu" } },
        })))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using var refused = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b }));
        var problem = await Problems.AssertAsync(refused, HttpStatusCode.UnprocessableEntity, "incompatible", "vm_id");
        Assert.Contains("pass-through", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(a, (await fixture.Registry.GetVmAsync(vm)).HostId);
    }

    [Fact]
    public async Task A_vm_with_a_passthrough_device_is_moved_cold_on_request_and_a_policy_that_never_moves_cold_is_a_problem()
    {
        var (a, b) = await fixture.HostsAsync();
        var vm = NewId("vm");
        using var cloud = fixture.Http(fixture.CloudKey);
        using (var created = await cloud.PostAsync("v1/vms", JsonBody(new
        {
            vm_id = vm, host_id = a, vcpus = 1, memory_mib = 512, passthrough_devices = new[] { new { address = "0000:3b:00.0", kind = "gpu" } },
        })))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using (var refused = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b, policy = "critical", cold = true })))
        {
            var problem = await Problems.AssertAsync(refused, HttpStatusCode.UnprocessableEntity, "incompatible", "cold");
            Assert.Contains("ColdMove=never", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.Equal(a, (await fixture.Registry.GetVmAsync(vm)).HostId);
        }

        using var accepted = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b, cold = true }));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var location = accepted.Headers.Location!.ToString();
        Assert.Equal("completed", await EndAsync(cloud, location));
        using var done = await cloud.GetAsync(location);
        var status = await ReadJsonAsync(done);
        Assert.True(status.GetProperty("request").GetProperty("cold").GetBoolean());
        Assert.True(status.GetProperty("cold").GetProperty("downtime_ms").GetDouble() > 0);
        Assert.Equal(b, (await fixture.Registry.GetVmAsync(vm)).HostId);
    }

    [Fact]
    public async Task Events_of_an_unknown_migration_are_a_404_problem_not_an_empty_stream()
    {
        using var viewer = fixture.Http(fixture.ViewerKey);
        using var response = await viewer.GetAsync("v1/migrations/mig-000000000000/events");
        await Problems.AssertAsync(response, HttpStatusCode.NotFound, "not_found", "migration_id");
    }

    [Fact]
    public async Task A_policy_list_is_served()
    {
        using var viewer = fixture.Http(fixture.ViewerKey);
        using var response = await viewer.GetAsync("v1/policies");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var policies = (await ReadJsonAsync(response)).GetProperty("items").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        Assert.NotEmpty(policies);
        Assert.Equal(1, policies["standard"].GetProperty("migration_channels").GetInt32());
        Assert.Equal(4, policies["multifd-4"].GetProperty("migration_channels").GetInt32());
    }

    [Fact]
    public async Task An_audit_pass_returns_its_findings()
    {
        using var op = fixture.Http(fixture.OperatorKey);
        using var response = await op.PostAsync("v1/audit", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var report = await ReadJsonAsync(response);
        Assert.Equal(JsonValueKind.Array, report.GetProperty("findings").ValueKind);
        Assert.True(report.GetProperty("vms_checked").GetInt32() >= 0);
    }
}
