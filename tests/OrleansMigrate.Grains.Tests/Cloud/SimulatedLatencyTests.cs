using System.Diagnostics;
using OrleansMigrate.Grains.Cloud;

namespace OrleansMigrate.Tests.Cloud;

/// <summary>Short simulated latencies wait without blocking a pool thread, never end early, and cancel.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class SimulatedLatencyTests
{
    [Fact]
    public async Task A_short_latency_is_a_promise_completed_on_time_not_a_pool_thread_asleep()
    {
        var waits = Enumerable.Range(0, 64).Select(_ => (Started: Stopwatch.GetTimestamp(), Task: SimulatedLatency.DelayAsync(TimeProvider.System, 5, CancellationToken.None))).ToList();

        // A promise: nothing runs (or waits to run) on the thread pool while the latency passes.
        Assert.All(waits, w => Assert.True(w.Task.IsCompleted || w.Task.Status == TaskStatus.WaitingForActivation, $"status {w.Task.Status}"));
        await Task.WhenAll(waits.Select(w => w.Task)).WaitAsync(TimeSpan.FromSeconds(30));
        var ended = Stopwatch.GetTimestamp();
        Assert.All(waits, w => Assert.True(Stopwatch.GetElapsedTime(w.Started, ended) >= TimeSpan.FromMilliseconds(5)));
    }

    [Fact]
    public async Task Each_wait_lasts_at_least_its_latency()
    {
        foreach (var ms in new[] { 1, 3, 7, 19 })
        {
            var started = Stopwatch.GetTimestamp();
            await SimulatedLatency.DelayAsync(TimeProvider.System, ms, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(Stopwatch.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(ms) - TimeSpan.FromMilliseconds(0.05), $"{ms} ms ended early");
        }
    }

    [Fact]
    public async Task A_cancelled_wait_ends_cancelled()
    {
        using var cts = new CancellationTokenSource();
        var wait = SimulatedLatency.DelayAsync(TimeProvider.System, 15, cts.Token);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(TimeSpan.FromSeconds(30)));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => SimulatedLatency.DelayAsync(TimeProvider.System, 5, cts.Token));
    }
}
