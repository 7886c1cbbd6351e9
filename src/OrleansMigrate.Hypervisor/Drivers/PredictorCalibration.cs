using System.Text.Json.Serialization;

namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>
/// Fixed costs of the migration engine that bandwidth and dirty rate do not explain, for
/// <see cref="MigrationPredictor"/>. <see cref="Simulated"/> holds the figures measured for our pre-copy engine
/// (simulated driver, loopback TCP) with <c>PreflightBenchmark.CalibrateAsync</c> (omig-bench); re-measure on other hosts.
/// </summary>
/// <param name="SetupMs">Connect, hello exchange and start of the bulk round, in ms.</param>
/// <param name="RoundOverheadMs">Fixed cost of one iterative round beyond its bytes on the link (harvest, session delta, the exactly paced round-end marker), in ms.</param>
/// <param name="PollOvershootMs">How much longer than <see cref="PreLastCopyOptions.PollIntervalMs"/> the stage's idle poll really sleeps, in ms.</param>
/// <param name="DowntimeFixedMs">Downtime of a guest with nothing left to send beyond the device state's link time: pause, capture, destination apply, resume, in ms.</param>
/// <param name="DowntimePerGiBMs">Extra downtime per GiB of guest memory (device-state capture and the destination's check walk per-page metadata), in ms.</param>
/// <param name="MaxCopyBytesPerSecond">What the engine moves per second when the link is faster (or uncapped): the host's copy throughput, bytes/s.</param>
/// <param name="FinalCopyBaseBytes">Wire bytes of a final copy with no pages: the device state (LZ4-compressed with the final copy) and frame headers.</param>
/// <param name="Lz4BytesPerSecond">
/// Raw bytes one CPU second of LZ4 compresses on this host. Compression overlaps sending, so the final copy's pages
/// take the longer of their wire bytes over the link and their raw bytes over this rate.
/// </param>
/// <param name="LinkEfficiency">
/// Share of a capped link's rate the engine achieves (0..1]: the token bucket banks no idle time, so every late
/// wake-up of the sender on a busy host is link time lost.
/// </param>
public sealed record PredictorCalibration(
    double SetupMs,
    double RoundOverheadMs,
    double PollOvershootMs,
    double DowntimeFixedMs,
    [property: JsonPropertyName("downtime_per_gib_ms")] double DowntimePerGiBMs,
    double MaxCopyBytesPerSecond,
    double FinalCopyBaseBytes,
    double Lz4BytesPerSecond,
    double LinkEfficiency = 1)
{
    /// <summary>
    /// Our simulated driver's pre-copy engine on the project's 2-core benchmark host (load average 10–25 from other
    /// builds), from <c>PreflightBenchmark.CalibrateAsync</c> after JIT warm-up, 2026-11-26; the per-GiB term is the
    /// middle of four noisy measurements (0.06–1.07 ms/GiB).
    /// </summary>
    public static PredictorCalibration Simulated { get; } = new(
        SetupMs: 1.7,
        RoundOverheadMs: 0.16,
        PollOvershootMs: 2.4,
        DowntimeFixedMs: 0.53,
        DowntimePerGiBMs: 0.4,
        MaxCopyBytesPerSecond: 1.1e9,
        FinalCopyBaseBytes: 9226,
        Lz4BytesPerSecond: 1.6e9,
        LinkEfficiency: 0.97);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field out of range.</summary>
    public void Validate()
    {
        Check(double.IsFinite(SetupMs) && SetupMs >= 0, nameof(SetupMs), SetupMs);
        Check(double.IsFinite(RoundOverheadMs) && RoundOverheadMs >= 0, nameof(RoundOverheadMs), RoundOverheadMs);
        Check(double.IsFinite(PollOvershootMs) && PollOvershootMs >= 0, nameof(PollOvershootMs), PollOvershootMs);
        Check(double.IsFinite(DowntimeFixedMs) && DowntimeFixedMs >= 0, nameof(DowntimeFixedMs), DowntimeFixedMs);
        Check(double.IsFinite(DowntimePerGiBMs) && DowntimePerGiBMs >= 0, nameof(DowntimePerGiBMs), DowntimePerGiBMs);
        Check(double.IsFinite(MaxCopyBytesPerSecond) && MaxCopyBytesPerSecond > 0, nameof(MaxCopyBytesPerSecond), MaxCopyBytesPerSecond);
        Check(double.IsFinite(FinalCopyBaseBytes) && FinalCopyBaseBytes >= 0, nameof(FinalCopyBaseBytes), FinalCopyBaseBytes);
        Check(double.IsFinite(Lz4BytesPerSecond) && Lz4BytesPerSecond > 0, nameof(Lz4BytesPerSecond), Lz4BytesPerSecond);
        Check(LinkEfficiency is > 0 and <= 1, nameof(LinkEfficiency), LinkEfficiency);
    }

    private static void Check(bool ok, string name, double value)
    {
        if (!ok)
            throw new ArgumentException($"PredictorCalibration.{name} is out of range: {value}.", name);
    }
}
