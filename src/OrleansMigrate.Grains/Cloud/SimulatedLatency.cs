using System.Diagnostics;

namespace OrleansMigrate.Cloud;

/// <summary>
/// Waits a simulated component latency. Timers here fire with about 4 ms granularity, which would turn a
/// 1 ms disk pause into 4 ms and misstate what sits on the critical path; short waits on the real clock
/// therefore sleep on a pool thread (nanosleep-backed, ~0.1 ms late), longer ones and test clocks use timers.
/// </summary>
public static class SimulatedLatency
{
    private const int PreciseBelowMs = 20;

    public static Task DelayAsync(TimeProvider time, int milliseconds, CancellationToken cancellationToken)
    {
        if (milliseconds <= 0)
        {
            return Task.CompletedTask;
        }

        if (time != TimeProvider.System || milliseconds >= PreciseBelowMs)
        {
            return Task.Delay(TimeSpan.FromMilliseconds(milliseconds), time, cancellationToken);
        }

        return Task.Run(() =>
        {
            var until = Stopwatch.GetTimestamp() + (milliseconds * Stopwatch.Frequency / 1000);
            while (Stopwatch.GetTimestamp() < until)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), until);
                Thread.Sleep(left > TimeSpan.FromMilliseconds(1) ? left : TimeSpan.FromMilliseconds(0.2));
            }
        }, cancellationToken);
    }
}
