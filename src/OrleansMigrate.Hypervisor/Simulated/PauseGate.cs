namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// Lets guest threads (workload, session churn) run in short critical sections that a pause waits out:
/// after <see cref="Pause"/> returns no thread is inside one and none enters until <see cref="Resume"/>.
/// Both sides use interlocked operations (full fences), so either the thread sees the pause or the pauser
/// sees the thread. Pauses nest (switchover and a verification may overlap).
/// </summary>
internal sealed class PauseGate : IDisposable
{
    private readonly ManualResetEventSlim _running = new(initialState: true);
    private readonly Lock _lock = new();
    private int _active;
    private int _pauses;

    public bool IsPaused => Volatile.Read(ref _pauses) != 0;

    /// <summary>Enters a critical section; false while paused (do not write, call <see cref="WaitWhilePaused"/>).</summary>
    public bool TryEnter()
    {
        Interlocked.Increment(ref _active);
        if (Volatile.Read(ref _pauses) == 0)
            return true;
        Interlocked.Decrement(ref _active);
        return false;
    }

    public void Exit() => Interlocked.Decrement(ref _active);

    /// <summary>Blocks while paused, up to <paramref name="timeout"/>.</summary>
    public void WaitWhilePaused(TimeSpan timeout) => _running.Wait(timeout);

    /// <summary>Stops guest threads and waits until none is inside a critical section.</summary>
    public void Pause()
    {
        lock (_lock)
        {
            if (_pauses++ == 0)
                _running.Reset();
        }

        Interlocked.MemoryBarrier();
        var spin = default(SpinWait);
        while (Volatile.Read(ref _active) != 0)
            spin.SpinOnce();
    }

    /// <summary>Undoes one <see cref="Pause"/>.</summary>
    public void Resume()
    {
        lock (_lock)
        {
            if (_pauses == 0)
                throw new InvalidOperationException("Resume without a matching pause.");
            if (--_pauses == 0)
                _running.Set();
        }
    }

    public void Dispose() => _running.Dispose();
}
