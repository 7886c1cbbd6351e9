namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// The modelled clock of one analytic migration. It runs at wall speed, except inside a modelled transfer (a
/// round, the final copy), which lasts its modelled duration on this clock but only that divided by the time
/// acceleration on the wall clock. So pre-copy (transfers back to back) runs accelerated, while waits for the
/// orchestrator (its round trips, the pause until it asks for the final copy) count as the wall time they took.
/// Both sides of a migration report their timestamps from this clock.
/// </summary>
internal sealed class AnalyticClock
{
    /// <summary>Wall debt below which a transfer does not sleep (the timer's resolution); it is paid with the next one.</summary>
    private const double MinSleepMs = 1;

    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly long _startTicks;
    private readonly double _ticksPerMs;
    private double _anchorMs;
    private long _anchorTicks;
    private double _stepMs;
    private bool _inStep;
    private double _debtMs;

    public AnalyticClock(TimeProvider time, double acceleration)
    {
        _time = time;
        Acceleration = acceleration;
        _startTicks = time.GetTimestamp();
        _anchorTicks = _startTicks;
        _ticksPerMs = time.TimestampFrequency / 1000.0;
    }

    /// <summary>Modelled milliseconds per wall millisecond inside a transfer.</summary>
    public double Acceleration { get; }

    /// <summary>Modelled ms since the migration started.</summary>
    public double NowMs()
    {
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            var wallMs = (now - _anchorTicks) / _ticksPerMs;
            return _anchorMs + (_inStep ? Math.Min(wallMs * Acceleration, _stepMs) : wallMs);
        }
    }

    /// <summary>A modelled time as a <see cref="TimeProvider.GetTimestamp"/> tick count of the driver's clock.</summary>
    public long Timestamp(double modelMs) => _startTicks + (long)(modelMs * _ticksPerMs);

    /// <summary>
    /// Lets <paramref name="modelMs"/> of modelled transfer pass: sleeps modelMs / acceleration of wall time
    /// (sleeps shorter than the timer's resolution are carried over to the next transfer, so many small
    /// rounds cost one timer, never a spin). Returns the modelled start of the transfer.
    /// </summary>
    public async Task<double> AdvanceAsync(double modelMs, CancellationToken cancellationToken)
    {
        var (start, began) = Begin(modelMs);
        double sleep;
        lock (_lock)
        {
            _debtMs += modelMs / Acceleration;
            sleep = _debtMs;
        }

        if (sleep >= MinSleepMs)
            await Task.Delay(TimeSpan.FromMilliseconds(sleep), _time, cancellationToken).ConfigureAwait(false);
        End(start, modelMs, began);
        return start;
    }

    /// <summary>
    /// Pays the wall debt left by transfers too short to sleep for (at least half the timer's resolution, rounded
    /// up to it), so a whole pre-copy never takes less wall time than its modelled time over the acceleration
    /// by more than half a millisecond.
    /// </summary>
    public async Task SettleAsync(CancellationToken cancellationToken)
    {
        double debt;
        lock (_lock)
            debt = _debtMs;
        if (debt < MinSleepMs / 2)
            return;
        var began = _time.GetTimestamp();
        await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(debt, MinSleepMs)), _time, cancellationToken).ConfigureAwait(false);
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            // Outside any transfer the modelled clock runs at wall speed: the wait counts as what it took.
            _debtMs = Math.Clamp(_debtMs - ((now - began) / _ticksPerMs), -MinSleepMs, MinSleepMs);
        }
    }

    /// <summary>
    /// A run of identical transfers of <paramref name="periodMs"/> each, at most <paramref name="maxPeriods"/>,
    /// cut short when <paramref name="wake"/> completes (a switchover request, a new downtime target). Returns how
    /// many periods passed, counting one under way as passed (the engine finishes a round before it looks), and
    /// the modelled start of the run.
    /// </summary>
    public async Task<(double Start, long Periods)> AdvanceRunAsync(double periodMs, long maxPeriods, Task wake, CancellationToken cancellationToken)
    {
        var total = periodMs * maxPeriods;
        var (start, began) = Begin(total);
        var wallMs = total / Acceleration;
        long periods = maxPeriods;
        if (wake.IsCompleted)
        {
            periods = 1;
        }
        else if (wallMs >= MinSleepMs)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var delay = Task.Delay(TimeSpan.FromMilliseconds(wallMs), _time, stop.Token);
            var first = await Task.WhenAny(delay, wake).ConfigureAwait(false);
            await stop.CancelAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            if (first == wake)
            {
                var passedMs = (_time.GetTimestamp() - began) / _ticksPerMs * Acceleration;
                periods = Math.Clamp((long)Math.Ceiling(passedMs / periodMs), 1, maxPeriods);
            }
        }

        lock (_lock)
            _debtMs += periodMs * periods / Acceleration;
        End(start, periodMs * periods, began);
        return (start, periods);
    }

    private (double Start, long Began) Begin(double modelMs)
    {
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            var start = _anchorMs + (_inStep ? _stepMs : (now - _anchorTicks) / _ticksPerMs);
            _anchorMs = start;
            _anchorTicks = now;
            _stepMs = modelMs;
            _inStep = true;
            return (start, now);
        }
    }

    private void End(double start, double modelMs, long began)
    {
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            // What the sleep overshot (or undershot) is owed back by the next transfer, within one ms either way.
            _debtMs = Math.Clamp(_debtMs - ((now - began) / _ticksPerMs), -MinSleepMs, MinSleepMs);
            _anchorMs = start + modelMs;
            _anchorTicks = now;
            _inStep = false;
        }
    }
}
