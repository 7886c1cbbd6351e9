namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>
/// How fast a running VM dirties its memory, measured over a short window by
/// <see cref="IHypervisorDriver.SampleDirtyRateAsync"/> (the input of a migration preflight, see
/// <see cref="MigrationPredictor"/>).
/// </summary>
/// <param name="VmId">The sampled VM.</param>
/// <param name="Method">How it was measured: <see cref="DirtyRateMethods.SimulatedCounters"/> or <see cref="DirtyRateMethods.QemuCalcDirtyRate"/>.</param>
/// <param name="DirtyBytesPerSecond">
/// Page writes per second × 4096 where the backend counts writes (simulated guest), else distinct pages dirtied
/// over the window × 4096 / window (QEMU). Bytes are 10^0: 50e6 is 50 MB/s.
/// </param>
/// <param name="WindowMs">The window actually measured, in ms (may exceed the one asked for: QEMU measures whole seconds).</param>
/// <param name="MemoryBytes">Guest memory size in bytes.</param>
/// <param name="DirtiedBytes">Distinct pages dirtied in the window × 4096, when the backend knows it.</param>
/// <param name="WorkingSetBytes">
/// Estimated size of the memory the guest writes to (the dirty working set), when the window had enough repeat
/// writes to tell; null when unknown (a predictor then assumes all of memory).
/// </param>
/// <param name="ZeroPageFraction">Share of all-zero pages in a sample of guest memory (0..1), when the backend can read memory; zero pages cross the wire as a marker only.</param>
/// <param name="CompressionRatio">LZ4 wire bytes / raw bytes of a sample of the pages dirtied in the window (0..1), when the backend can read memory.</param>
/// <param name="Detail">Backend notes (mode, sample size), for operators.</param>
public sealed record DirtyRateSample(
    string VmId,
    string Method,
    double DirtyBytesPerSecond,
    double WindowMs,
    long MemoryBytes,
    long? DirtiedBytes,
    long? WorkingSetBytes,
    double? ZeroPageFraction,
    double? CompressionRatio,
    string? Detail);

/// <summary>Values of <see cref="DirtyRateSample.Method"/>.</summary>
public static class DirtyRateMethods
{
    /// <summary>The simulated guest's own write counter and generation vector (never its migration dirty bitmap).</summary>
    public const string SimulatedCounters = "simulated-counters";

    /// <summary>QEMU's <c>calc-dirty-rate</c> / <c>query-dirty-rate</c>.</summary>
    public const string QemuCalcDirtyRate = "qemu-calc-dirty-rate";

    /// <summary>The analytic driver's own model: the configured rate, exactly, with no time spent.</summary>
    public const string AnalyticModel = "analytic-model";
}
