using System.Text.Json;
using OrleansMigrate.Cli.Bench;

namespace OrleansMigrate.Cli.Tests;

/// <summary><c>omig bench api</c> at a tiny size: every field of the report is there and the counts agree (no speed is
/// asserted: the machine is shared).</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class ApiBenchmarkTests
{
    [Fact]
    public async Task A_tiny_run_reports_every_call_over_both_transports_with_consistent_counts()
    {
        var result = await new ApiBenchmark(new ApiBenchmarkOptions(Hosts: 3, VmsPerHost: 2, Clients: 2, DurationS: 0.3), _ => { }).RunAsync(CancellationToken.None);
        using var doc = JsonDocument.Parse(OrleansMigrate.Cli.Output.Json.Serialize(result));
        var root = doc.RootElement;
        Assert.Equal(3, root.GetProperty("hosts").GetInt32());
        Assert.Equal(6, root.GetProperty("vms").GetInt32());
        Assert.Equal(2, root.GetProperty("clients").GetInt32());
        Assert.Equal(0.3, root.GetProperty("duration_s").GetDouble());
        var calls = root.GetProperty("calls").EnumerateArray().ToList();
        var pairs = calls.Select(c => (c.GetProperty("call").GetString(), c.GetProperty("transport").GetString())).ToList();
        Assert.Equal(
            [("get-vm", "http"), ("get-vm", "client"), ("list-vms", "http"), ("list-vms", "client"), ("migrate", "http"), ("migrate", "client")],
            pairs);
        foreach (var c in calls)
        {
            var requests = c.GetProperty("requests").GetInt64();
            var errors = c.GetProperty("errors").GetInt64();
            var rate = c.GetProperty("requests_per_s").GetDouble();
            var p50 = c.GetProperty("p50_ms").GetDouble();
            var p99 = c.GetProperty("p99_ms").GetDouble();
            Assert.True(requests > 0, $"{c}");
            Assert.InRange(errors, 0, requests);
            Assert.True(rate > 0, $"{c}");
            Assert.True(p50 > 0 && p99 >= p50, $"{c}");
        }

        // Reads of an existing fleet do not fail, over either transport.
        Assert.All(calls.Where(c => c.GetProperty("call").GetString() != "migrate"), c => Assert.Equal(0, c.GetProperty("errors").GetInt64()));
    }
}
