using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Security;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Migration;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary><c>/metrics</c> scraped over HTTP around a real migration in the in-process cluster, who may read it, and the
/// per-migration gauges fed by <see cref="MigrationTelemetry.Track"/>.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class MetricsTests(ApiFixture fixture)
{
    /// <summary>Every metric this test project expects us to export (the Grafana test checks the dashboard against it).</summary>
    public static readonly string[] OurMetrics =
    [
        "omig_migration_succeeded", "omig_migration_failed", "omig_migration_data_processed_bytes", "omig_migration_data_remaining_bytes",
        "omig_migration_dirty_memory_rate_bytes", "omig_migrations_pending", "omig_migrations_running",
        "omig_migration_phase_duration_seconds_bucket", "omig_migration_phase_duration_seconds_count", "omig_migration_phase_duration_seconds_sum",
    ];

    private async Task<string> ScrapeAsync(string? key = null)
    {
        using var http = fixture.Http(key ?? fixture.ViewerKey);
        using var response = await http.GetAsync("metrics");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET /metrics: {(int)response.StatusCode} {text}");
        return text;
    }

    [Fact]
    public async Task A_completed_migration_raises_the_succeeded_counter_and_the_bytes_and_orleans_metrics_are_there()
    {
        var before = await ScrapeAsync();
        var succeededBefore = Prometheus.Sum(before, "omig_migration_succeeded") ?? 0;
        var bytesBefore = Prometheus.Sum(before, "omig_migration_bytes") ?? 0;

        var (a, b) = await fixture.HostsAsync();
        var vm = NewId("vm");
        using var cloud = fixture.Http(fixture.CloudKey);
        using (var created = await cloud.PostAsync("v1/vms", JsonBody(new { vm_id = vm, host_id = a, vcpus = 2, memory_mib = 512, required_cpu_features = new[] { "avx" } })))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using var accepted = await cloud.PostAsync("v1/migrations", JsonBody(new { vm_id = vm, destination_host = b }));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var location = accepted.Headers.Location!.ToString().TrimStart('/');
        var ended = await Poll.UntilAsync(cloud, location, m => m.GetProperty("phase").GetString() is "completed" or "rolled_back" or "failed", 60);
        Assert.Equal("completed", ended.GetProperty("phase").GetString());
        var after = await ScrapeAsync();
        Assert.True(Prometheus.Sum(after, "omig_migration_succeeded") >= succeededBefore + 1, after);
        Assert.True(Prometheus.Sum(after, "omig_migration_bytes") > bytesBefore, "bytes moved did not grow");
        Assert.True(Prometheus.Sum(after, "omig_migration_phase_duration_seconds_count") > 0);
        Assert.NotNull(Prometheus.Sum(after, "omig_migrations_running"));
        Assert.NotNull(Prometheus.Sum(after, "omig_migrations_pending"));
        Assert.Contains(Prometheus.Names(after), n => n.StartsWith("orleans_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Metrics_need_a_viewer_key_unless_served_anonymously()
    {
        using (var anonymous = fixture.Http(null))
        using (var response = await anonymous.GetAsync("metrics"))
        {
            await Problems.AssertAsync(response, HttpStatusCode.Unauthorized, "unauthenticated", "authorization");
        }

        await using var open = await OmigApiServer.StartAsync(fixture.Grains, new OmigApiOptions
        {
            Port = 0,
            MetricsAnonymous = true,
            Keys = [Key("viewer-1", fixture.ViewerKey, ApiRoles.Viewer)],
        }, NullLoggerFactory.Instance);
        using var http = new HttpClient { BaseAddress = open.Address, Timeout = TimeSpan.FromSeconds(60) };
        using var scrape = await http.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, scrape.StatusCode);
        Assert.Contains("omig_migrations_running", await scrape.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var v1 = await http.GetAsync("v1/hosts");
        await Problems.AssertAsync(v1, HttpStatusCode.Unauthorized, "unauthenticated");
    }

    [Fact]
    public void The_per_migration_gauges_report_what_was_tracked_and_forget_it_at_the_end()
    {
        // The silo's own telemetry: a second MigrationTelemetry would be a second meter of the same name, which the
        // OpenTelemetry SDK merges with the first (and disposing it would end the first's streams).
        var telemetry = fixture.SiloServices.GetRequiredService<MigrationTelemetry>();
        var id = NewId("mig");
        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == MigrationTelemetry.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var mine = false;
            foreach (var tag in tags)
            {
                mine |= tag.Key == "migration_id" && (string?)tag.Value == id;
            }

            if (mine || instrument.Name == "omig_migrations_running")
            {
                seen[instrument.Name] = seen.GetValueOrDefault(instrument.Name) + value;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        var runningBefore = seen["omig_migrations_running"];
        seen.Clear();

        telemetry.Track(id, "vm-1", MigrationPhase.PreCopy, new MigrationProgressInfo(3, 1000, 250, 4096, 1e6, 20, null, "precopy"));
        try
        {
            listener.RecordObservableInstruments();
            Assert.Equal(1000, seen["omig_migration_data_processed_bytes"]);
            Assert.Equal(250, seen["omig_migration_data_remaining_bytes"]);
            Assert.Equal(4096, seen["omig_migration_dirty_memory_rate_bytes"]);
            Assert.Equal(runningBefore + 1, seen["omig_migrations_running"]);
        }
        finally
        {
            telemetry.Untrack(id);
        }

        seen.Clear();
        listener.RecordObservableInstruments();
        Assert.False(seen.ContainsKey("omig_migration_data_processed_bytes"));
        Assert.Equal(runningBefore, seen["omig_migrations_running"]);
    }
}
