using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.Bench;

/// <summary>
/// The data-plane benchmark (<c>omig bench dataplane --json PATH</c>): real migrations of simulated guests
/// between two simulated hosts over loopback TCP, in one process, cases of a group interleaved run by run.
/// Writes <c>{"cases":[...]}</c> with medians, p99 and every run's downtime, plus the issue's targets
/// evaluated against the figures (reported, not asserted).
/// </summary>
public static partial class DataPlaneBenchmark
{
    /// <summary>10 Gb/s.</summary>
    public const long TenGigabitBytesPerSecond = 1_250_000_000;

    /// <summary>1 Gb/s.</summary>
    public const long OneGigabitBytesPerSecond = 125_000_000;

    /// <summary>Default guest of the cases: 1 GiB.</summary>
    public const int DefaultGuestMiB = 1024;

    /// <summary>Guest of the surge pair, smaller so 2 × 20 runs stay within a couple of minutes.</summary>
    public const int SurgeGuestMiB = 128;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        // A case whose every run failed has no percentiles: written as "NaN" rather than failing the report.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The cases the options select, in run order.</summary>
    public static IReadOnlyList<BenchmarkCase> DefineCases(DataPlaneBenchmarkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var guest = options.GuestMiBOverride ?? DefaultGuestMiB;
        var surgeGuest = options.GuestMiBOverride ?? SurgeGuestMiB;
        var runs = options.RunsPerCase;
        var uniform50 = new GuestWorkloadOptions { DirtyMegabytesPerSecond = 50, Pattern = DirtyPattern.Uniform };
        var hotset200 = new GuestWorkloadOptions { DirtyMegabytesPerSecond = 200, Pattern = DirtyPattern.HotSet, HotSetMiB = Math.Min(64, Math.Max(1, guest / 4)) };
        var surge = new GuestWorkloadOptions
        {
            DirtyMegabytesPerSecond = 10,
            Pattern = DirtyPattern.HotSet,
            HotSetMiB = Math.Min(16, Math.Max(1, surgeGuest / 4)),
            Surge = new SurgeOptions(StartMs: 500, DurationMs: 1200, Multiplier: 20),
        };
        MigrationOptions Link(long bytesPerSecond, CompressionMode mode = CompressionMode.Final) => new()
        {
            LinkBandwidthBytesPerSecond = bytesPerSecond,
            Compression = mode,
            DowntimeTargetMs = options.DowntimeTargetMs,
        };
        var surgeMigration = Link(OneGigabitBytesPerSecond) with { MaxPreCopyMs = 1000, LimitAction = PreCopyLimitAction.ForceSwitchover };
        const string surgeNote = "guest 128 MiB (not 1 GiB) to keep 2 x 20 runs short; hot set 16 MiB at 10 MB/s, surge x20 (200 MB/s, above the 125 MB/s link) from 500 ms for 1200 ms after boot; pre-copy time limit 1000 ms with force-switchover (a controller deadline) fires inside the surge";
        var all = new List<BenchmarkCase>
        {
            new("idle", "baseline", guest, null, Link(TenGigabitBytesPerSecond), runs, "no dirtying, no session churn"),
            new("uniform-50", "baseline", guest, uniform50, Link(TenGigabitBytesPerSecond), runs, null),
            new("hotset-200", "baseline", guest, hotset200, Link(TenGigabitBytesPerSecond), runs, $"hot set {hotset200.HotSetMiB} MiB"),
            new("compress-none-10g", "compress-10g", guest, uniform50, Link(TenGigabitBytesPerSecond, CompressionMode.None), runs, null),
            new("compress-all-10g", "compress-10g", guest, uniform50, Link(TenGigabitBytesPerSecond, CompressionMode.All), runs, null),
            new("compress-final-10g", "compress-10g", guest, uniform50, Link(TenGigabitBytesPerSecond, CompressionMode.Final), runs, null),
            new("compress-none-1g", "compress-1g", guest, uniform50, Link(OneGigabitBytesPerSecond, CompressionMode.None), runs, null),
            new("compress-all-1g", "compress-1g", guest, uniform50, Link(OneGigabitBytesPerSecond, CompressionMode.All), runs, null),
            new("compress-final-1g", "compress-1g", guest, uniform50, Link(OneGigabitBytesPerSecond, CompressionMode.Final), runs, null),
            new("surge-with-plc", "surge", surgeGuest, surge, surgeMigration, options.SurgeRuns, options.GuestMiBOverride is null ? surgeNote : null),
            new("surge-without-plc", "surge", surgeGuest, surge, surgeMigration with { PreLastCopy = new PreLastCopyOptions { Enabled = false } }, options.SurgeRuns, options.GuestMiBOverride is null ? surgeNote : null),
        };
        return [.. all.Where(c => Selected(c.Name, options.CaseFilter))];
    }

    /// <summary>Runs the selected cases and writes the JSON to <see cref="DataPlaneBenchmarkOptions.OutputPath"/> when set.</summary>
    public static async Task<DataPlaneBenchmarkResult> RunAsync(DataPlaneBenchmarkOptions options, CancellationToken cancellationToken = default)
    {
        var cases = DefineCases(options);
        if (cases.Count == 0)
            throw new ArgumentException($"--cases: no benchmark case matches '{options.CaseFilter}' (cases: {string.Join(", ", DefineCases(options with { CaseFilter = null }).Select(c => c.Name))}; a trailing * matches a prefix).");
        var clock = Stopwatch.StartNew();
        await using var source = new SimulatedHypervisorDriver("bench-source");
        await using var destination = new SimulatedHypervisorDriver("bench-destination");
        var warmups = await WarmUpAsync(source, destination, options, cancellationToken).ConfigureAwait(false);

        var samples = cases.ToDictionary(c => c.Name, _ => new List<RunSample>());
        foreach (var group in cases.GroupBy(c => c.Group))
        {
            var members = group.ToList();
            var most = members.Max(c => c.Runs);
            for (var run = 0; run < most; run++)
            {
                // Rotate the order each run so no case always follows the same neighbour.
                for (var k = 0; k < members.Count; k++)
                {
                    var benchCase = members[(run + k) % members.Count];
                    if (run >= benchCase.Runs)
                        continue;
                    var sample = await RunOnceAsync(source, destination, benchCase, run, cancellationToken).ConfigureAwait(false);
                    samples[benchCase.Name].Add(sample);
                    options.Log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                        $"{benchCase.Name} #{run + 1}/{benchCase.Runs}: downtime {sample.DowntimeMs:F2} ms [{string.Join(' ', sample.Steps().Select(kv => $"{kv.Key} {kv.Value:F2}"))}], total {sample.TotalMs:F0} ms, final {sample.FinalPages} pages, bulk {sample.BulkBytesPerSecond / 1e6:F0} MB/s, {(sample.Consistent ? "consistent" : "INCONSISTENT " + sample.Detail)}"));
                }
            }
        }

        var results = cases.Select(c => Summarise(c, samples[c.Name])).ToList();
        var result = new DataPlaneBenchmarkResult
        {
            Cases = results,
            Targets = EvaluateTargets(results),
            DowntimeTargetMs = options.DowntimeTargetMs,
            WarmupMigrations = warmups,
            DurationSeconds = Math.Round(clock.Elapsed.TotalSeconds, 1),
            ProcessorCount = Environment.ProcessorCount,
            Runtime = RuntimeInformation.FrameworkDescription,
            Notes =
            [
                "downtime = source pause request to destination resume, measured on one host clock (both simulated hosts in this process, loopback TCP)",
                "the link cap is a sender-side token bucket with no burst credit; round ends and the end of the final copy wait until the emulated link carried every byte",
                "cpu_s = thread CPU seconds in LZ4 encode (source) + decode (destination) per run, median; not total process CPU",
                "bytes_sent, compressed_bytes: medians per run; consistent: every run passed the destination's check (every page against its stamp, generation-vector digest and sum, device state, session-table digest)",
                "guest content mix 30% zero / 40% compressible (~3x LZ4) / 30% incompressible pages; session table 4096 flows with 2000 changes/s except idle",
                "warm-up migrations (discarded) run first so JIT compilation stays out of the figures; a full GC runs before each measured migration",
            ],
        };
        if (options.OutputPath is { } path)
        {
            var directory = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(directory))
                Directory.CreateDirectory(directory);
            await File.WriteAllTextAsync(path, ToJson(result), cancellationToken).ConfigureAwait(false);
        }

        return result;
    }

    /// <summary>
    /// One tiny case (a 16 MiB guest dirtied at 50 MB/s, one run, no warm-up): checks the pipeline and the
    /// JSON shape in a second or two. For tests and <c>omig bench dataplane --smoke</c>.
    /// </summary>
    public static Task<DataPlaneBenchmarkResult> RunSmokeAsync(string? outputPath = null, CancellationToken cancellationToken = default)
        => RunAsync(new DataPlaneBenchmarkOptions { CaseFilter = "uniform-50", GuestMiBOverride = 16, RunsPerCase = 1, WarmupRounds = 0, OutputPath = outputPath }, cancellationToken);

    /// <summary>The JSON text of a result.</summary>
    public static string ToJson(DataPlaneBenchmarkResult result) => JsonSerializer.Serialize(result, Json);

    private static bool Selected(string name, string? filter)
    {
        if (string.IsNullOrWhiteSpace(filter))
            return true;
        foreach (var raw in filter.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw.EndsWith('*') ? name.StartsWith(raw[..^1], StringComparison.Ordinal) : name.Equals(raw, StringComparison.Ordinal))
                return true;
        }

        return false;
    }

    private static async Task<int> WarmUpAsync(SimulatedHypervisorDriver source, SimulatedHypervisorDriver destination, DataPlaneBenchmarkOptions options, CancellationToken cancellationToken)
    {
        var count = 0;
        var workload = new GuestWorkloadOptions { DirtyMegabytesPerSecond = 50 };
        for (var round = 0; round < options.WarmupRounds; round++)
        {
            foreach (var (mode, plc, link) in new[]
            {
                (CompressionMode.None, true, TenGigabitBytesPerSecond),
                (CompressionMode.All, true, TenGigabitBytesPerSecond),
                (CompressionMode.Final, true, OneGigabitBytesPerSecond),
                (CompressionMode.Final, false, TenGigabitBytesPerSecond),
            })
            {
                var warm = new BenchmarkCase("warmup", "warmup", 32, workload, new MigrationOptions
                {
                    Compression = mode,
                    LinkBandwidthBytesPerSecond = link,
                    PreLastCopy = new PreLastCopyOptions { Enabled = plc },
                }, 1, null);
                await RunOnceAsync(source, destination, warm, count++, cancellationToken).ConfigureAwait(false);
            }
        }

        return count;
    }

    private static async Task<RunSample> RunOnceAsync(SimulatedHypervisorDriver source, SimulatedHypervisorDriver destination, BenchmarkCase benchCase, int run, CancellationToken cancellationToken)
    {
        var vmId = string.Create(CultureInfo.InvariantCulture, $"{benchCase.Name}-{run}");
        var spec = new VmSpec
        {
            VmId = vmId,
            MemoryMiB = benchCase.GuestMiB,
            VCpuCount = 2,
            Simulation = new SimulatedGuestOptions
            {
                Workload = benchCase.Workload,
                Sessions = benchCase.Workload is null ? new SessionChurnOptions { ChurnPerSecond = 0 } : new SessionChurnOptions(),
            },
        };
        await source.CreateVmAsync(spec, cancellationToken).ConfigureAwait(false);
        try
        {
            // Both hosts' memory for this run is faulted in before the clock starts, as a destination host
            // reserves the VM's memory before a migration is scheduled.
            await destination.CreateVmAsync(spec with { }, cancellationToken).ConfigureAwait(false);
            await destination.DestroyVmAsync(vmId, cancellationToken).ConfigureAwait(false);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            await source.StartVmAsync(vmId, cancellationToken).ConfigureAwait(false);
            var report = await LiveMigration.RunAsync(
                source,
                destination,
                vmId,
                benchCase.Migration,
                new IncomingMigrationOptions { VerifyConsistency = true },
                cancellationToken).ConfigureAwait(false);
            return RunSample.From(report);
        }
        catch (MigrationFailedException ex)
        {
            return RunSample.Failed(ex.Message);
        }
        finally
        {
            await source.DestroyVmAsync(vmId, CancellationToken.None).ConfigureAwait(false);
            await destination.DestroyVmAsync(vmId, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
