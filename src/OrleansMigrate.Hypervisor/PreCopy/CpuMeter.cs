namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>Accumulates thread CPU time spent in one kind of work (LZ4 encode or decode) across threads.</summary>
internal sealed class CpuMeter
{
    private long _nanoseconds;

    public double Seconds => Volatile.Read(ref _nanoseconds) / 1e9;

    /// <summary>Start a measurement on the current thread; pass the value to <see cref="Stop"/> on the same thread.</summary>
    public static long Start() => ThreadCpuClock.NowNanoseconds();

    /// <summary>Adds the CPU time since <paramref name="start"/>; returns it in seconds.</summary>
    public double Stop(long start)
    {
        var spent = Math.Max(0, ThreadCpuClock.NowNanoseconds() - start);
        Interlocked.Add(ref _nanoseconds, spent);
        return spent / 1e9;
    }
}
