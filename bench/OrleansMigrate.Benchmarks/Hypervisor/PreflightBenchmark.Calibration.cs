using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.Bench;

/// <summary>The calibration: the engine's fixed costs the predictor needs, measured on guests that are none of the cases.</summary>
public static partial class PreflightBenchmark
{
    /// <summary>
    /// Measures the engine's fixed costs (medians): nine migrations of a 64 MiB guest dirtying 20 MB/s (uniform) over a
    /// 200 MB/s link gives setup, per-round cost, idle-poll overshoot, link efficiency and the downtime beyond the
    /// final copy's link time; three more of it dirtying 40 MB/s with the pre-last-copy stage off leave hundreds of
    /// pages to the final copy and give the LZ4 rate (raw bytes per thread-CPU second); idle 32 MiB and 512 MiB guests over an uncapped link give the engine's own throughput
    /// and the downtime's growth with guest size (three each). None of these guests is one of the benchmark's cases.
    /// </summary>
    public static async Task<PredictorCalibration> CalibrateAsync(SimulatedHypervisorDriver source, SimulatedHypervisorDriver destination, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        const long link = 200_000_000;
        const int loadedMiB = 64, smallMiB = 32, largeMiB = 512;
        var setup = new List<double>();
        var roundCost = new List<double>();
        var overshoot = new List<double>();
        var efficiency = new List<double>();
        var loadedDowntime = new List<double>();
        var smallDowntime = new List<double>();
        var largeDowntime = new List<double>();
        var throughput = new List<double>();
        var baseBytes = new List<double>();
        var lz4 = new List<double>();
        var capped = new MigrationOptions { LinkBandwidthBytesPerSecond = link };
        var uncapped = new MigrationOptions { LinkBandwidthBytesPerSecond = 0 };
        var loaded = new GuestWorkloadOptions { DirtyMegabytesPerSecond = 20, Pattern = DirtyPattern.Uniform };
        for (var i = 0; i < 9; i++)
        {
            var report = await MigrateAsync(source, destination, $"calibrate-loaded-{i}", loadedMiB, loaded, capped, cancellationToken).ConfigureAwait(false);
            setup.Add(report.TotalMs - report.PreCopyMs - report.PreLastCopyMs - report.Downtime.TotalMs);
            var stage = report.Rounds.Where(r => r.Stage == RoundStage.PreLastCopy).ToList();
            roundCost.AddRange(stage.Select(r => r.DurationMs - (r.WireBytes * 1000.0 / link)));
            var polls = stage.Count(r => r.Pages < 16) - (stage.Count > 0 && stage[^1].Pages < 16 ? 1 : 0);
            if (polls > 0)
                overshoot.Add(((report.PreLastCopyMs - stage.Sum(r => r.DurationMs)) / polls) - capped.PreLastCopy.PollIntervalMs);
            var achieved = Math.Min(1, report.Rounds[0].BandwidthBytesPerSecond / link);
            efficiency.Add(achieved);
            loadedDowntime.Add(report.Downtime.TotalMs - (report.Downtime.FinalWireBytes * 1000.0 / (link * achieved)));

            if (i % 3 != 0)
                continue;
            var noStage = await MigrateAsync(source, destination, $"calibrate-noplc-{i}", loadedMiB, loaded with { DirtyMegabytesPerSecond = 40 },
                capped with { PreLastCopy = new PreLastCopyOptions { Enabled = false } }, cancellationToken).ConfigureAwait(false);
            if (noStage.Source.CompressionCpuSeconds > 0 && noStage.Downtime.FinalRawBytes > 0)
                lz4.Add(noStage.Downtime.FinalRawBytes / noStage.Source.CompressionCpuSeconds);
            foreach (var (mib, list) in new[] { (smallMiB, smallDowntime), (largeMiB, largeDowntime) })
            {
                var idle = await MigrateAsync(source, destination, $"calibrate-idle-{mib}-{i}", mib, null, uncapped, cancellationToken).ConfigureAwait(false);
                var bulk = idle.Rounds[0].BandwidthBytesPerSecond;
                throughput.Add(bulk);
                list.Add(idle.Downtime.TotalMs - (idle.Downtime.FinalWireBytes * 1000.0 / bulk));
                baseBytes.Add(idle.Downtime.FinalWireBytes);
            }
        }

        var perGiB = Math.Max(0, (Percentiles.Of(largeDowntime, 50) - Percentiles.Of(smallDowntime, 50)) / ((largeMiB - smallMiB) / 1024.0));
        var fixedMs = Math.Max(0, Percentiles.Of(loadedDowntime, 50) - (perGiB * loadedMiB / 1024.0));
        var calibration = new PredictorCalibration(
            SetupMs: Math.Round(Math.Max(0, Percentiles.Of(setup, 50)), 3),
            RoundOverheadMs: Math.Round(Math.Max(0, Percentiles.Of(roundCost, 50)), 3),
            PollOvershootMs: Math.Round(overshoot.Count > 0 ? Math.Max(0, Percentiles.Of(overshoot, 50)) : 0, 3),
            DowntimeFixedMs: Math.Round(fixedMs, 3),
            DowntimePerGiBMs: Math.Round(perGiB, 3),
            MaxCopyBytesPerSecond: Math.Round(Percentiles.Of(throughput, 50)),
            FinalCopyBaseBytes: Math.Round(Percentiles.Of(baseBytes, 50)),
            Lz4BytesPerSecond: Math.Round(lz4.Count > 0 ? Percentiles.Of(lz4, 50) : 1e9),
            LinkEfficiency: Math.Round(Math.Clamp(Percentiles.Of(efficiency, 50), 0.01, 1), 3));
        log?.Invoke($"calibration: {calibration}");
        return calibration;
    }
}
