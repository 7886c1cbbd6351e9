using System.Globalization;

namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>
/// Predicts a pre-copy migration before it starts (the preflight of <c>omig vm migrate --dry-run</c>): rounds,
/// total time, downtime and whether it converges without throttling. Pure and deterministic.
/// </summary>
/// <remarks>
/// <para>
/// The model replays our engine (<c>PreCopySource</c>) round by round instead of a closed form. Round 1 sends
/// all memory (zero pages as 4-byte markers); round <c>i</c> sends the distinct pages dirtied during round
/// <c>i−1</c>. A guest writing <c>r</c> random pages per second into a working set of <c>S</c> pages dirties
/// <c>S·(1 − e^(−r·T/S))</c> distinct pages in <c>T</c> seconds (≈ <c>r·T</c> for short rounds, never more than
/// <c>S</c>). A round takes its wire bytes over the effective bandwidth (link cap, or the engine's own throughput
/// when that is lower) plus a fixed per-round cost. After each round the engine's own test decides: the pending
/// pages, session delta and device state over the bandwidth plus <see cref="MigrationOptions.SwitchoverOverheadMs"/>
/// at or under <see cref="MigrationOptions.DowntimeTargetMs"/> → converged; else at <see cref="MigrationOptions.MaxRounds"/>
/// or <see cref="MigrationOptions.MaxPreCopyMs"/> → the limit action. The pre-last-copy stage then iterates for at
/// least its observation window (idle polls when a round had under 16 pages) until the estimate fits, at most
/// <see cref="PreLastCopyOptions.MaxWaitMs"/>. The final copy sends the pages dirtied during the last round
/// (LZ4 at the sampled ratio unless compression is off) and the device state inside the pause: a fixed cost, the
/// longer of the wire bytes over the link and the raw page bytes over the calibrated LZ4 rate (compression overlaps
/// sending).
/// </para>
/// <para>
/// Costs that bytes do not explain come from <see cref="PredictorCalibration"/>, measured on the simulated
/// engine (<c>PreflightBenchmark.CalibrateAsync</c> in omig-bench, bench/OrleansMigrate.Benchmarks), not guessed. Not modelled: QEMU's auto-converge throttling,
/// load surges after the sample, CPU contention on the host.
/// </para>
/// </remarks>
public static class MigrationPredictor
{
    private const int PageSize = 4096;
    private const int EntryBytes = sizeof(uint);
    private const int FrameHeaderBytes = 40;
    private const int SessionRecordBytes = 40;
    private const int RoundEndFrameBytes = FrameHeaderBytes + 16;
    private const int SmallRoundPages = 16;
    private const int MaxSteps = 1_000_000;

    /// <summary>Predicts from a dirty-rate sample and the migration's options.</summary>
    public static MigrationPrediction Predict(DirtyRateSample sample, MigrationOptions options, PredictorCalibration? calibration = null)
        => Predict(MigrationPredictionInput.From(sample, options, calibration));

    /// <summary>Predicts one migration. Throws <see cref="ArgumentException"/> for inputs out of range.</summary>
    public static MigrationPrediction Predict(MigrationPredictionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        input.Validate();
        var o = input.Options;
        var cal = input.Calibration;
        var model = new Model(input);
        var target = o.DowntimeTargetMs;

        // Round 1: the bulk copy of all memory.
        var bulkBytes = model.BulkBytes();
        var roundSeconds = model.Seconds(bulkBytes);
        double bytesSent = bulkBytes;
        var preCopyMs = roundSeconds * 1000;
        var rounds = 1;
        var pending = model.Dirtied(roundSeconds);
        var sessions = model.Sessions(roundSeconds);

        SwitchoverReason reason;
        var outcome = MigrationPredictionOutcome.Converges;
        while (true)
        {
            if (model.EstimateMs(pending, sessions) <= target)
            {
                reason = SwitchoverReason.Converged;
                break;
            }

            if (rounds >= o.MaxRounds || preCopyMs >= o.MaxPreCopyMs)
            {
                reason = rounds >= o.MaxRounds ? SwitchoverReason.RoundLimit : SwitchoverReason.TimeLimit;
                outcome = o.LimitAction == PreCopyLimitAction.Fail ? MigrationPredictionOutcome.Fails : MigrationPredictionOutcome.ForcedSwitchover;
                break;
            }

            var bytes = model.RoundBytes(pending, sessions);
            roundSeconds = model.Seconds(bytes);
            var next = model.Dirtied(roundSeconds);
            if (Steady(pending, next))
            {
                // The round size stopped changing and does not fit: the rest of pre-copy repeats this round.
                var byRounds = o.MaxRounds - rounds;
                var byTime = (int)Math.Min(int.MaxValue, Math.Ceiling((o.MaxPreCopyMs - preCopyMs) / (roundSeconds * 1000)));
                var repeat = Math.Max(1, Math.Min(byRounds, byTime));
                rounds += repeat;
                preCopyMs += repeat * roundSeconds * 1000;
                bytesSent += repeat * bytes;
            }
            else
            {
                rounds++;
                preCopyMs += roundSeconds * 1000;
                bytesSent += bytes;
            }

            pending = next;
            sessions = model.Sessions(roundSeconds);
        }

        var effective = model.Bandwidth;
        var ratio = input.DirtyBytesPerSecond / effective;
        if (outcome == MigrationPredictionOutcome.Fails)
        {
            return new MigrationPrediction(outcome, false, false, reason, rounds, 0, preCopyMs, 0, double.NaN, double.NaN, (long)Math.Round(pending), 0, (long)bytesSent, effective, ratio,
                Format($"does not converge: {Describe(input, effective)}; pre-copy hits its {Limit(reason)} after {rounds} rounds and {preCopyMs:F0} ms with {model.EstimateMs(pending, sessions):F1} ms of final copy left (target {target} ms) and the limit action is Fail"));
        }

        // The pre-last-copy stage.
        var plcRounds = 0;
        var stageMs = 0.0;
        var plc = o.PreLastCopy;
        if (plc.Enabled)
        {
            for (var step = 0; step < MaxSteps; step++)
            {
                var sentPages = pending;
                var bytes = model.RoundBytes(pending, sessions);
                roundSeconds = model.Seconds(bytes);
                plcRounds++;
                bytesSent += bytes;
                stageMs += roundSeconds * 1000;
                var next = model.Dirtied(roundSeconds);
                sessions = model.Sessions(roundSeconds);
                var fits = model.EstimateMs(next, sessions) <= target;
                if ((fits && stageMs >= plc.ObservationWindowMs) || stageMs >= plc.MaxWaitMs)
                {
                    pending = next;
                    break;
                }

                var pollMs = sentPages < SmallRoundPages && plc.PollIntervalMs > 0 ? plc.PollIntervalMs + cal.PollOvershootMs : 0;
                var cycleMs = (roundSeconds * 1000) + pollMs;
                var after = model.Dirtied(cycleMs / 1000);
                if (Steady(pending, after))
                {
                    // Steady state: the stage repeats poll + round until its window (fits) or its maximum wait.
                    var until = fits ? plc.ObservationWindowMs : plc.MaxWaitMs;
                    var cycles = Math.Max(1, Math.Ceiling((until - stageMs) / cycleMs));
                    stageMs += cycles * cycleMs;
                    plcRounds += (int)Math.Min(int.MaxValue - plcRounds, cycles);
                    bytesSent += cycles * bytes;
                    pending = next;
                    break;
                }

                stageMs += pollMs;
                pending = after;
            }
        }

        // The pause and the final copy.
        var finalPages = pending;
        var compressed = o.Compression != CompressionMode.None;
        var finalBytes = model.FinalBytes(finalPages, sessions);
        bytesSent += finalBytes;
        var downtimeMs = cal.DowntimeFixedMs + (cal.DowntimePerGiBMs * input.MemoryBytes / (1L << 30))
            + (Math.Max(finalBytes / effective, compressed ? finalPages * PageSize / cal.Lz4BytesPerSecond : 0) * 1000);
        var totalMs = cal.SetupMs + preCopyMs + stageMs + downtimeMs;
        var converges = outcome == MigrationPredictionOutcome.Converges;
        var within = downtimeMs <= target;
        var text = converges
            ? Format($"converges without throttling in {rounds} rounds: {Describe(input, effective)}; final copy {finalPages:F0} pages, downtime ≈ {downtimeMs:F1} ms (target {target} ms), total ≈ {totalMs:F0} ms")
            : Format($"does not converge without throttling: {Describe(input, effective)}; pre-copy hits its {Limit(reason)} after {rounds} rounds and switches over anyway with {finalPages:F0} pages left: downtime ≈ {downtimeMs:F1} ms (target {target} ms), total ≈ {totalMs:F0} ms");
        return new MigrationPrediction(outcome, converges, within, reason, rounds, plcRounds, preCopyMs, stageMs, totalMs, downtimeMs,
            (long)Math.Round(finalPages), (long)finalBytes, (long)bytesSent, effective, ratio, text);
    }

    private static bool Steady(double previous, double next) => Math.Abs(next - previous) <= 1e-6 * Math.Max(1, previous);

    private static string Limit(SwitchoverReason reason) => reason == SwitchoverReason.RoundLimit ? "round limit" : "time limit";

    private static string Describe(MigrationPredictionInput input, double effective)
    {
        var workingSet = input.WorkingSetBytes is { } ws ? Format($"working set {ws >> 20} MiB") : "working set unknown (all memory)";
        return Format($"dirty {input.DirtyBytesPerSecond / 1e6:F1} MB/s vs {effective / 1e6:F0} MB/s effective bandwidth (ratio {input.DirtyBytesPerSecond / effective:F2}), {input.MemoryBytes >> 20} MiB guest, {workingSet}");
    }

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>The engine's arithmetic for one input.</summary>
    private sealed class Model
    {
        private readonly MigrationPredictionInput _input;
        private readonly double _pageCount;
        private readonly double _workingSet;
        private readonly double _pagesPerSecond;
        private readonly int _pagesPerFrame;
        private readonly double _roundOverheadSeconds;

        public Model(MigrationPredictionInput input)
        {
            _input = input;
            var o = input.Options;
            _pageCount = Math.Ceiling(input.MemoryBytes / (double)PageSize);
            _workingSet = Math.Clamp(Math.Ceiling((input.WorkingSetBytes ?? input.MemoryBytes) / (double)PageSize), 1, _pageCount);
            _pagesPerSecond = input.DirtyBytesPerSecond / PageSize;
            Bandwidth = o.LinkBandwidthBytesPerSecond > 0
                ? Math.Min(o.LinkBandwidthBytesPerSecond * input.Calibration.LinkEfficiency, input.Calibration.MaxCopyBytesPerSecond)
                : input.Calibration.MaxCopyBytesPerSecond;
            var perMs = o.LinkBandwidthBytesPerSecond > 0 ? o.LinkBandwidthBytesPerSecond / 1000 / PageSize : int.MaxValue;
            _pagesPerFrame = (int)Math.Clamp(perMs, Math.Min(16, o.MaxPagesPerFrame), o.MaxPagesPerFrame);
            _roundOverheadSeconds = input.Calibration.RoundOverheadMs / 1000;
        }

        public double Bandwidth { get; }

        /// <summary>Distinct pages a uniform writer dirties in <paramref name="seconds"/>.</summary>
        public double Dirtied(double seconds) => _pagesPerSecond <= 0 ? 0 : _workingSet * -double.ExpM1(-_pagesPerSecond * seconds / _workingSet);

        /// <summary>Session delta records pending after <paramref name="seconds"/>.</summary>
        public double Sessions(double seconds) => _input.SessionChangesPerSecond * seconds;

        public double BulkBytes()
        {
            var z = _input.ZeroPageFraction;
            var bodyBytes = _input.Options.Compression == CompressionMode.All ? PageSize * (_input.CompressionRatio ?? 1) : PageSize;
            return (_pageCount * ((1 - z) * bodyBytes + EntryBytes)) + Frames(_pageCount) + RoundEndFrameBytes;
        }

        public double RoundBytes(double pages, double sessions)
        {
            var bodyBytes = _input.Options.Compression == CompressionMode.All ? PageSize * (_input.CompressionRatio ?? 1) : PageSize;
            return (pages * (bodyBytes + EntryBytes)) + Frames(pages) + (sessions * SessionRecordBytes) + RoundEndFrameBytes;
        }

        /// <summary>Seconds a round of <paramref name="bytes"/> takes: link time plus the fixed round cost.</summary>
        public double Seconds(double bytes) => Math.Max((bytes / Bandwidth) + _roundOverheadSeconds, 1e-6);

        /// <summary>The engine's own estimate of the final copy (raw sizes, measured bandwidth, switchover overhead), in ms.</summary>
        public double EstimateMs(double pages, double sessions)
        {
            var bytes = (pages * (PageSize + EntryBytes)) + (sessions * SessionRecordBytes) + _input.DeviceStateBytes + (4 * FrameHeaderBytes);
            return (bytes / Bandwidth * 1000) + _input.Options.SwitchoverOverheadMs;
        }

        /// <summary>Wire bytes of the final copy: pages (LZ4 at the sampled ratio unless compression is off), session delta, and the calibrated device state and headers.</summary>
        public double FinalBytes(double pages, double sessions)
        {
            var compress = _input.Options.Compression != CompressionMode.None;
            var bodyBytes = compress ? PageSize * (_input.CompressionRatio ?? 1) : PageSize;
            return (pages * (bodyBytes + EntryBytes)) + Frames(pages) + (sessions * SessionRecordBytes) + _input.Calibration.FinalCopyBaseBytes;
        }

        private double Frames(double pages) => Math.Ceiling(pages / _pagesPerFrame) * FrameHeaderBytes;
    }
}
