namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// The pacing shared by the guest's background activities (memory dirtying, session churn): operations
/// accrue as credit at a rate, are spent in sections while the <see cref="PauseGate"/> lets the guest run,
/// and time spent paused is not owed afterwards.
/// </summary>
internal static class PacedLoop
{
    /// <param name="ratePerSecond">Operations per second at a timestamp.</param>
    /// <param name="maxPerSection">Most operations done while holding the gate once.</param>
    /// <param name="backlogSeconds">Most credit kept, in seconds of the current rate (at least one section).</param>
    /// <param name="section">Does that many operations; runs while the gate is held.</param>
    public static void Run(TimeProvider time, PauseGate gate, Func<bool> stopped, Func<long, double> ratePerSecond,
        int maxPerSection, double backlogSeconds, Action<int> section)
    {
        var frequency = (double)time.TimestampFrequency;
        var last = time.GetTimestamp();
        var credit = 0.0;
        while (!stopped())
        {
            var now = time.GetTimestamp();
            var rate = ratePerSecond(now);
            credit = Math.Min(credit + (rate * (now - last) / frequency), Math.Max(maxPerSection, rate * backlogSeconds));
            last = now;
            while (credit >= 1 && !stopped())
            {
                if (!gate.TryEnter())
                {
                    gate.WaitWhilePaused(TimeSpan.FromMilliseconds(50));
                    // Paused time is not owed afterwards.
                    last = time.GetTimestamp();
                    credit = 0;
                    break;
                }

                var count = (int)Math.Min(credit, maxPerSection);
                try
                {
                    section(count);
                }
                finally
                {
                    gate.Exit();
                }

                credit -= count;
            }

            Thread.Sleep(1);
        }
    }
}
