using System.Collections.Concurrent;
using System.Diagnostics;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Tests.Migration;

[Collection(MigrationCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class MigrationTracingTests(MigrationClusterFixture fixture)
{
    [Fact]
    public async Task A_migration_emits_one_trace_with_a_span_per_phase_and_per_component_action()
    {
        var spans = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == MigrationTelemetry.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(listener);
        var vm = await fixture.CreateVmAsync("m-1");

        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-2"));
        MigrationStatus? last = null;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (var status in fixture.Client.WatchMigrationAsync(started.MigrationId, cts.Token))
        {
            last = status;
        }

        Assert.Equal(MigrationPhase.Completed, last!.Phase);
        var root = Assert.Single(spans, s => s.OperationName == "migration" && (string?)s.GetTagItem("omig.migration_id") == started.MigrationId);
        Assert.Equal("completed", root.GetTagItem("omig.outcome"));
        var trace = spans.Where(s => s.TraceId == root.TraceId).Select(s => s.OperationName).ToHashSet();
        Assert.Contains("phase prepare", trace);
        Assert.Contains("phase switchover", trace);
        Assert.Contains("phase post-migration", trace);
        Assert.Contains("final copy", trace);
        Assert.Contains("reserve", trace);
        Assert.Contains(trace, name => name.StartsWith("disk ", StringComparison.Ordinal));
        Assert.Contains(trace, name => name.StartsWith("relay ", StringComparison.Ordinal));
        Assert.Contains(spans, s => s.OperationName == "phase switchover" && s.GetTagItem("omig.downtime_ms") is double);
    }
}
