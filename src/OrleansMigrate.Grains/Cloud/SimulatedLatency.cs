using System.Diagnostics;
using OrleansMigrate.Hypervisor.PreCopy;

namespace OrleansMigrate.Grains.Cloud;

/// <summary>
/// Waits a simulated component latency. Timers here fire with about 4 ms granularity, which would turn a
/// 1 ms disk pause into 4 ms and misstate what sits on the critical path; short waits on the real clock are
/// therefore timed by one dedicated thread (nanosleep, ~0.1 ms late) that completes the waiters' tasks —
/// no pool thread is ever blocked for them. Longer waits and test clocks use ordinary timers.
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

        return PreciseTimer.Shared.DelayAsync(milliseconds * Stopwatch.Frequency / 1000, cancellationToken);
    }

    /// <summary>One background thread that completes short waits on time; it sleeps only on itself.</summary>
    internal sealed class PreciseTimer
    {
        public static readonly PreciseTimer Shared = new();

        private readonly PriorityQueue<TaskCompletionSource, long> _due = new();
        private readonly Lock _lock = new();
        private readonly AutoResetEvent _wake = new(false);

        private PreciseTimer()
        {
            var thread = new Thread(Run) { IsBackground = true, Name = "omig-simulated-latency" };
            thread.Start();
        }

        /// <summary>Completes after <paramref name="ticks"/> <see cref="Stopwatch"/> ticks (or is cancelled).</summary>
        public Task DelayAsync(long ticks, CancellationToken cancellationToken)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return Task.FromCanceled(cancellationToken);
            }

            var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var due = Stopwatch.GetTimestamp() + ticks;
            lock (_lock)
            {
                _due.Enqueue(waiter, due);
            }

            _wake.Set();
            if (cancellationToken.CanBeCanceled)
            {
                var registration = cancellationToken.Register(static (state, token) => ((TaskCompletionSource)state!).TrySetCanceled(token), waiter);
                _ = waiter.Task.ContinueWith(static (_, r) => ((CancellationTokenRegistration)r!).Dispose(), registration, CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            return waiter.Task;
        }

        private void Run()
        {
            while (true)
            {
                long? next = null;
                var now = Stopwatch.GetTimestamp();
                lock (_lock)
                {
                    while (_due.TryPeek(out var waiter, out var due))
                    {
                        if (due > now)
                        {
                            next = due;
                            break;
                        }

                        _due.Dequeue();
                        waiter.TrySetResult();
                    }
                }

                if (next is not { } until)
                {
                    _wake.WaitOne();
                    continue;
                }

                // Sleep towards the earliest deadline in steps of at most 250 µs (nanosleep: wakes within tens of
                // microseconds), so that a newly added, earlier deadline is missed by no more than that.
                var leftUs = Stopwatch.GetElapsedTime(now, until).TotalMicroseconds;
                PreciseSleep.Sleep(Math.Min(leftUs, 250));
            }
        }
    }
}
