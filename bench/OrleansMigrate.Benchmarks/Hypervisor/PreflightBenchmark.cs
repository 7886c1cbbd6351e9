using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.Bench;

/// <summary>
/// The preflight benchmark: for a spread of (guest MiB, dirty MB/s, link MB/s) cases on byte-real simulated
/// guests it samples the dirty rate with <see cref="IHypervisorDriver.SampleDirtyRateAsync"/>, predicts with
/// <see cref="MigrationPredictor"/>, migrates driver-to-driver with <see cref="LiveMigration.RunAsync"/> and
/// compares predicted with measured downtime and total time (median relative errors; target 25 %).
/// <see cref="CalibrateAsync"/> measures the engine's fixed costs the predictor needs.
/// </summary>
public static partial class PreflightBenchmark
{
    /// <summary>Sampling window of every run.</summary>
    public static readonly TimeSpan SampleWindow = TimeSpan.FromMilliseconds(500);

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>
    /// The cases, run in rotation. Half run the default policy (pre-last-copy on: the stage shrinks the final copy to
    /// a few pages, so downtime is mostly fixed cost); half run with the stage off, where the final copy is what
    /// pre-copy left when it converged and downtime is mostly link time.
    /// </summary>
    public static IReadOnlyList<PreflightCase> Cases { get; } =
    [
        new("g64-d10-l100", 64, 10, 100, PreLastCopy: true),
        new("g128-d30-l200-noplc", 128, 30, 200, PreLastCopy: false),
        new("g96-d50-l150-noplc", 96, 50, 150, PreLastCopy: false),
        new("g128-d5-l400", 128, 5, 400, PreLastCopy: true),
        new("g64-d60-l100-noplc", 64, 60, 100, PreLastCopy: false),
        new("g192-d20-l300", 192, 20, 300, PreLastCopy: true),
        new("g128-d40-l250-noplc", 128, 40, 250, PreLastCopy: false),
        new("g96-d30-l120", 96, 30, 120, PreLastCopy: true),
    ];

    /// <summary>
    /// Runs <paramref name="runs"/> migrations (cases in rotation) and summarises the prediction errors. Writes the JSON
    /// to <paramref name="outputPath"/> when given.
    /// </summary>
    /// <param name="runs">Measured migrations (1..1000).</param>
    /// <param name="calibration">The predictor's engine costs; null measures them first with <see cref="CalibrateAsync"/> on the same drivers.</param>
    /// <param name="log">One line per run; null is silent.</param>
    /// <param name="outputPath">Where to write the JSON; null writes nothing.</param>
    /// <param name="warmupMigrations">Discarded small migrations first (0..1000); 40 gets the switchover path out of unoptimised JIT code.</param>
    /// <param name="cancellationToken">Stops between runs.</param>
    public static async Task<PreflightBenchmarkResult> RunAsync(int runs, PredictorCalibration? calibration = null, Action<string>? log = null, string? outputPath = null, int warmupMigrations = 40, CancellationToken cancellationToken = default)
    {
        if (runs is < 1 or > 1000)
            throw new ArgumentOutOfRangeException(nameof(runs), runs, "runs must be in 1..1000.");
        if (warmupMigrations is < 0 or > 1000)
            throw new ArgumentOutOfRangeException(nameof(warmupMigrations), warmupMigrations, "warmupMigrations must be in 0..1000.");
        var clock = Stopwatch.StartNew();
        var load = File.Exists("/proc/loadavg") ? string.Join(' ', (await File.ReadAllTextAsync("/proc/loadavg", cancellationToken).ConfigureAwait(false)).Split(' ').Take(3)) : null;
        await using var source = new SimulatedHypervisorDriver("preflight-source");
        await using var destination = new SimulatedHypervisorDriver("preflight-destination");
        await WarmUpAsync(source, destination, warmupMigrations, cancellationToken).ConfigureAwait(false);
        var source0 = calibration is null ? "measured at the start of this run (CalibrateAsync)" : calibration == PredictorCalibration.Simulated ? "PredictorCalibration.Simulated (built in)" : "given by the caller";
        calibration ??= await CalibrateAsync(source, destination, log, cancellationToken).ConfigureAwait(false);

        var results = new List<PreflightRun>();
        for (var i = 0; i < runs; i++)
        {
            var benchCase = Cases[i % Cases.Count];
            var run = await RunOnceAsync(source, destination, benchCase, i, calibration, cancellationToken).ConfigureAwait(false);
            results.Add(run);
            log?.Invoke(run.Error is { } error
                ? $"{run.Case} #{i + 1}: FAILED {error}"
                : string.Create(CultureInfo.InvariantCulture,
                    $"{run.Case} #{i + 1}: sampled {run.SampledDirtyMegabytesPerSecond:F1} MB/s; downtime pred {run.PredictedDowntimeMs:F2} / meas {run.MeasuredDowntimeMs:F2} ms ({run.DowntimeError:P0}); total pred {run.PredictedTotalMs:F0} / meas {run.MeasuredTotalMs:F0} ms ({run.TotalTimeError:P0}); rounds {run.PredictedRounds}/{run.MeasuredRounds}; final pages {run.PredictedFinalPages}/{run.MeasuredFinalPages}, bytes {run.PredictedFinalWireBytes}/{run.MeasuredFinalWireBytes}, lz4 cpu {run.MeasuredFinalCopyCpuMs:F2} ms; {run.PredictedOutcome} vs {run.MeasuredSwitchover}"));
        }

        var ok = results.Where(r => r.Error is null).ToList();
        var downtime = ok.Select(r => r.DowntimeError).ToList();
        var total = ok.Select(r => r.TotalTimeError).ToList();
        var summary = new PreflightSummary
        {
            Runs = ok.Count,
            FailedRuns = results.Count - ok.Count,
            DowntimeErrorP50 = Math.Round(Percentiles.Of(downtime, 50), 4),
            TotalTimeErrorP50 = Math.Round(Percentiles.Of(total, 50), 4),
            DowntimeErrorP90 = Math.Round(Percentiles.Of(downtime, 90), 4),
            TotalTimeErrorP90 = Math.Round(Percentiles.Of(total, 90), 4),
            DowntimeErrorP50PlcOn = Math.Round(Percentiles.Of([.. ok.Where(r => r.PreLastCopy).Select(r => r.DowntimeError)], 50), 4),
            DowntimeErrorP50PlcOff = Math.Round(Percentiles.Of([.. ok.Where(r => !r.PreLastCopy).Select(r => r.DowntimeError)], 50), 4),
            TotalTimeErrorP50PlcOn = Math.Round(Percentiles.Of([.. ok.Where(r => r.PreLastCopy).Select(r => r.TotalTimeError)], 50), 4),
            TotalTimeErrorP50PlcOff = Math.Round(Percentiles.Of([.. ok.Where(r => !r.PreLastCopy).Select(r => r.TotalTimeError)], 50), 4),
            ConvergenceAgreement = ok.Count(r => (r.PredictedOutcome == nameof(MigrationPredictionOutcome.Converges)) == (r.MeasuredSwitchover == nameof(SwitchoverReason.Converged))),
            TargetMet = ok.Count > 0 && Percentiles.Of(downtime, 50) <= 0.25 && Percentiles.Of(total, 50) <= 0.25,
        };
        var result = new PreflightBenchmarkResult
        {
            Preflight = summary,
            Calibration = calibration,
            CalibrationSource = source0,
            Runs = results,
            DurationSeconds = Math.Round(clock.Elapsed.TotalSeconds, 1),
            ProcessorCount = Environment.ProcessorCount,
            LoadAverage = load,
            Notes =
            [
                "each run: boot a byte-real simulated guest (uniform random page writes, default content mix and session churn), sample its dirty rate for 500 ms with SampleDirtyRateAsync (simulated-counters), predict with MigrationPredictor from the sample and the migration options, then migrate with LiveMigration.RunAsync between two simulated drivers over loopback TCP",
                "errors are |predicted - measured| / measured; downtime = source pause request to destination resume; total = migration start to destination resume",
                "migration options: the defaults (downtime target 20 ms, pre-last-copy on, LZ4 on the final copy) with the case's link cap; cases named -noplc turn the pre-last-copy stage off",
                "the predictor's engine costs (calibration) are measured on idle and 20 MB/s guests that are none of the cases, before the measured runs",
            ],
        };
        if (outputPath is not null)
        {
            var directory = Path.GetDirectoryName(Path.GetFullPath(outputPath));
            if (!string.IsNullOrEmpty(directory))
                Directory.CreateDirectory(directory);
            await File.WriteAllTextAsync(outputPath, ToJson(result), cancellationToken).ConfigureAwait(false);
        }

        return result;
    }

    /// <summary>The JSON text of a result.</summary>
    public static string ToJson(PreflightBenchmarkResult result) => JsonSerializer.Serialize(result, Json);

    /// <summary>
    /// Discarded migrations of small guests before anything is measured: the switchover path runs once per migration,
    /// so it stays in unoptimised (tier-0) JIT code for the first few dozen migrations and would inflate the
    /// calibrated downtime. Forty runs take a few seconds.
    /// </summary>
    private static async Task WarmUpAsync(SimulatedHypervisorDriver source, SimulatedHypervisorDriver destination, int count, CancellationToken cancellationToken)
    {
        var workload = new GuestWorkloadOptions { DirtyMegabytesPerSecond = 20, Pattern = DirtyPattern.Uniform };
        for (var i = 0; i < count; i++)
        {
            var options = new MigrationOptions { LinkBandwidthBytesPerSecond = 0, PreLastCopy = new PreLastCopyOptions { Enabled = i % 2 == 0 } };
            await MigrateAsync(source, destination, $"warmup-{i}", 16, workload, options, cancellationToken).ConfigureAwait(false);
            if (i % 10 == 0)
                await source.SampleDirtyRateAsync(await BootAsync(source, destination, $"warmup-sample-{i}", workload, cancellationToken).ConfigureAwait(false), TimeSpan.FromMilliseconds(20), cancellationToken).ConfigureAwait(false);
        }

        foreach (var vm in await source.ListVmsAsync(cancellationToken).ConfigureAwait(false))
            await source.DestroyVmAsync(vm.VmId, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<string> BootAsync(SimulatedHypervisorDriver source, SimulatedHypervisorDriver destination, string vmId, GuestWorkloadOptions workload, CancellationToken cancellationToken)
    {
        await PrepareAsync(source, destination, new VmSpec { VmId = vmId, MemoryMiB = 16, Simulation = new SimulatedGuestOptions { Workload = workload } }, cancellationToken).ConfigureAwait(false);
        return vmId;
    }

    private static async Task<MigrationReport> MigrateAsync(SimulatedHypervisorDriver source, SimulatedHypervisorDriver destination, string vmId, int mib, GuestWorkloadOptions? workload, MigrationOptions options, CancellationToken cancellationToken)
    {
        var spec = new VmSpec
        {
            VmId = vmId,
            MemoryMiB = mib,
            VCpuCount = 2,
            Simulation = new SimulatedGuestOptions { Workload = workload },
        };
        await PrepareAsync(source, destination, spec, cancellationToken).ConfigureAwait(false);
        try
        {
            return await LiveMigration.RunAsync(source, destination, vmId, options, new IncomingMigrationOptions { VerifyConsistency = true }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await source.DestroyVmAsync(vmId, CancellationToken.None).ConfigureAwait(false);
            await destination.DestroyVmAsync(vmId, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Creates the VM (destination memory faulted in first, as a reserved host would have it), collects garbage, boots it.</summary>
    private static async Task PrepareAsync(SimulatedHypervisorDriver source, SimulatedHypervisorDriver destination, VmSpec spec, CancellationToken cancellationToken)
    {
        await source.CreateVmAsync(spec, cancellationToken).ConfigureAwait(false);
        await destination.CreateVmAsync(spec with { }, cancellationToken).ConfigureAwait(false);
        await destination.DestroyVmAsync(spec.VmId, cancellationToken).ConfigureAwait(false);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        await source.StartVmAsync(spec.VmId, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<PreflightRun> RunOnceAsync(
        SimulatedHypervisorDriver source,
        SimulatedHypervisorDriver destination,
        PreflightCase benchCase,
        int run,
        PredictorCalibration calibration,
        CancellationToken cancellationToken)
    {
        var vmId = string.Create(CultureInfo.InvariantCulture, $"{benchCase.Name}-{run}");
        var spec = new VmSpec
        {
            VmId = vmId,
            MemoryMiB = benchCase.GuestMiB,
            VCpuCount = 2,
            Simulation = new SimulatedGuestOptions
            {
                Workload = new GuestWorkloadOptions { DirtyMegabytesPerSecond = benchCase.DirtyMegabytesPerSecond, Pattern = DirtyPattern.Uniform },
            },
        };
        var options = new MigrationOptions
        {
            LinkBandwidthBytesPerSecond = (long)(benchCase.LinkMegabytesPerSecond * 1e6),
            PreLastCopy = new PreLastCopyOptions { Enabled = benchCase.PreLastCopy },
        };
        await PrepareAsync(source, destination, spec, cancellationToken).ConfigureAwait(false);
        try
        {
            var sample = await source.SampleDirtyRateAsync(vmId, SampleWindow, cancellationToken).ConfigureAwait(false);
            var prediction = MigrationPredictor.Predict(sample, options, calibration);
            var baseRun = new PreflightRun
            {
                Case = benchCase.Name,
                GuestMiB = benchCase.GuestMiB,
                DirtyMegabytesPerSecond = benchCase.DirtyMegabytesPerSecond,
                LinkMegabytesPerSecond = benchCase.LinkMegabytesPerSecond,
                PreLastCopy = benchCase.PreLastCopy,
                SampledDirtyMegabytesPerSecond = Math.Round(sample.DirtyBytesPerSecond / 1e6, 3),
                SampledWorkingSetMiB = sample.WorkingSetBytes is { } ws ? Math.Round(ws / 1048576.0, 1) : null,
                SampledCompressionRatio = sample.CompressionRatio is { } ratio ? Math.Round(ratio, 3) : null,
                PredictedOutcome = prediction.Outcome.ToString(),
                PredictedRounds = prediction.Rounds,
                PredictedFinalPages = prediction.FinalCopyPages,
                PredictedFinalWireBytes = prediction.FinalCopyBytes,
                PredictedDowntimeMs = Math.Round(prediction.DowntimeMs, 3),
                PredictedTotalMs = Math.Round(prediction.TotalMs, 3),
            };
            try
            {
                var report = await LiveMigration.RunAsync(source, destination, vmId, options, new IncomingMigrationOptions { VerifyConsistency = true }, cancellationToken).ConfigureAwait(false);
                var measuredDowntime = report.Downtime.TotalMs;
                return baseRun with
                {
                    MeasuredSwitchover = report.SwitchoverReason.ToString(),
                    MeasuredRounds = report.Rounds.Count(r => r.Stage == RoundStage.PreCopy),
                    MeasuredFinalPages = report.Downtime.FinalPages,
                    MeasuredFinalWireBytes = report.Downtime.FinalWireBytes,
                    MeasuredFinalCopyCpuMs = Math.Round(report.CompressionCpuSeconds * 1000, 3),
                    MeasuredDowntimeMs = Math.Round(measuredDowntime, 3),
                    MeasuredTotalMs = Math.Round(report.TotalMs, 3),
                    DowntimeError = Math.Round(Math.Abs(prediction.DowntimeMs - measuredDowntime) / measuredDowntime, 4),
                    TotalTimeError = Math.Round(Math.Abs(prediction.TotalMs - report.TotalMs) / report.TotalMs, 4),
                    Consistent = report.Consistency?.Consistent ?? false,
                };
            }
            catch (MigrationFailedException ex)
            {
                return baseRun with { Error = ex.Message };
            }
        }
        finally
        {
            await source.DestroyVmAsync(vmId, CancellationToken.None).ConfigureAwait(false);
            await destination.DestroyVmAsync(vmId, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
