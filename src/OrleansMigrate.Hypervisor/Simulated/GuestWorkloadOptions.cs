namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>The guest's memory-dirtying workload. Each write rewrites a whole 4 KiB page with its next generation.</summary>
public sealed record GuestWorkloadOptions
{
    /// <summary>Page writes per second × 4096, in MB/s (10^6 bytes), 0..100000. 0 is an idle guest.</summary>
    public double DirtyMegabytesPerSecond { get; init; } = 50;

    public DirtyPattern Pattern { get; init; } = DirtyPattern.Uniform;

    /// <summary>Size of the hot set for <see cref="DirtyPattern.HotSet"/>, in MiB (1..guest size).</summary>
    public int HotSetMiB { get; init; } = 64;

    /// <summary>Workload threads (1..64); each owns the pages whose index modulo the count is its number.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>An optional surge of the dirty rate.</summary>
    public SurgeOptions? Surge { get; init; }

    public void Validate(int guestMiB)
    {
        if (DirtyMegabytesPerSecond is < 0 or > 100_000)
            throw new ArgumentException($"DirtyMegabytesPerSecond out of range: {DirtyMegabytesPerSecond}.");
        if (!Enum.IsDefined(Pattern))
            throw new ArgumentException($"Unknown dirty pattern {Pattern}.");
        if (Pattern == DirtyPattern.HotSet && (HotSetMiB < 1 || HotSetMiB > guestMiB))
            throw new ArgumentException($"HotSetMiB must be in 1..{guestMiB}, was {HotSetMiB}.");
        if (Threads is < 1 or > 64)
            throw new ArgumentException($"Threads must be in 1..64, was {Threads}.");
        Surge?.Validate();
    }
}
