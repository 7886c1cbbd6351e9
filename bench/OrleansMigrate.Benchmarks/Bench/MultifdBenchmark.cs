using System.Collections.Immutable;
using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using OrleansMigrate.Hypervisor.Bench;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;

namespace OrleansMigrate.Cli.Bench;

/// <summary>
/// QEMU's classic single migration stream against multifd with N channels, on the same guest and settings, alternating run
/// by run: two QEMU drivers on this machine, a plain QMP migration (no cloud actions), a fresh guest every run that dirties
/// memory before it migrates. Figures are QEMU's own <c>query-migrate</c> numbers after completion (total time, downtime,
/// average throughput, bytes on the multifd channels) and the destination's check of the guest's memory.
/// </summary>
public sealed class MultifdBenchmark(int runs, int channels, string image, string guestDescription, int memoryMiB, int warmMs, string accelerator, Action<string> log)
{
    private const double DowntimeTargetMs = 20;
    private const long LinkBytesPerSecond = 1_250_000_000;

    public async Task<MultifdBenchmarkResult> RunAsync(CancellationToken ct)
    {
        var runtimeDir = Path.Combine(Path.GetTempPath(), $"omig-bm-{Environment.ProcessId}");
        var options = new QemuDriverOptions { RuntimeDirectory = runtimeDir, StopGuestsOnShutdown = true, Accelerator = accelerator };
        options.ImageDirectories.Add(Path.GetDirectoryName(image)!);
        options.Validate();
        var chosen = await AcceleratorProbe.ResolveAsync(options);
        log($"QEMU accelerator: {chosen}; guest {memoryMiB} MiB from {image}; {runs} runs each of 1 and {channels} channels");

        var single = new List<MultifdSample>();
        var multi = new List<MultifdSample>();
        await using (var a = new QemuHypervisorDriver("mfd-a", options))
        await using (var b = new QemuHypervisorDriver("mfd-b", options))
        {
            // One warm-up of each (discarded); then the two alternate, so drift on a shared machine hits both alike.
            for (var run = -1; run < runs; run++)
            {
                ct.ThrowIfCancellationRequested();
                var one = await MigrateAsync(a, b, $"one-{run + 1}", 1, ct);
                var many = await MigrateAsync(a, b, $"many-{run + 1}", channels, ct);
                if (run < 0)
                {
                    log($"warm-up: 1 channel {one.TotalMs:0} ms, {channels} channels {many.TotalMs:0} ms (discarded)");
                    continue;
                }

                single.Add(one);
                multi.Add(many);
                log($"run {run + 1,2}/{runs}: total {one.TotalMs:0} / {many.TotalMs:0} ms, downtime {one.DowntimeMs:0.0} / {many.DowntimeMs:0.0} ms, " +
                    $"throughput {one.ThroughputMBps:0.0} / {many.ThroughputMBps:0.0} MB/s, multifd {many.MultifdBytes / 1048576.0:0.0} MiB; " +
                    $"guest {(one.Consistent ? "consistent" : "NOT consistent")} / {(many.Consistent ? "consistent" : "NOT consistent")}");
            }
        }

        try
        {
            Directory.Delete(runtimeDir, recursive: true);
        }
        catch (IOException)
        {
        }

        var oneStats = Stats(1, single);
        var manyStats = Stats(channels, multi);
        return new MultifdBenchmarkResult(runs, chosen.Accelerator, chosen.Reason, memoryMiB, guestDescription, DowntimeTargetMs, LinkBytesPerSecond,
            oneStats, manyStats,
            oneStats.TotalMsP50 > 0 ? Math.Round(manyStats.TotalMsP50 / oneStats.TotalMsP50, 3) : double.NaN,
            oneStats.ThroughputMBpsP50 > 0 ? Math.Round(manyStats.ThroughputMBpsP50 / oneStats.ThroughputMBpsP50, 3) : double.NaN,
            single.Concat(multi).All(s => s.Consistent));
    }

    private async Task<MultifdSample> MigrateAsync(QemuHypervisorDriver a, QemuHypervisorDriver b, string vmId, int n, CancellationToken ct)
    {
        var spec = new VmSpec { VmId = vmId, MemoryMiB = memoryMiB, VCpuCount = 1, Qemu = new QemuGuest { ImagePath = image } };
        await a.CreateVmAsync(spec, ct);
        await a.StartVmAsync(vmId, ct);
        try
        {
            await Task.Delay(warmMs, ct);
            await b.CreateVmAsync(spec, ct);
            var incoming = await b.PrepareIncomingAsync(vmId, new IncomingMigrationOptions { VerifyConsistency = true, MigrationChannels = n }, ct);
            var started = Stopwatch.GetTimestamp();
            var outgoing = (QemuOutgoingMigration)await a.StartOutgoingAsync(vmId, incoming.Endpoint,
                new MigrationOptions { DowntimeTargetMs = DowntimeTargetMs, LinkBandwidthBytesPerSecond = LinkBytesPerSecond, MigrationChannels = n }, ct);
            await outgoing.PreSwitchover.WaitAsync(TimeSpan.FromMinutes(5), ct);
            await outgoing.FinalCopyAsync(CancellationToken.None);
            await incoming.Received.WaitAsync(TimeSpan.FromMinutes(1), ct);
            await incoming.ResumeAsync(CancellationToken.None);
            var wallMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            await outgoing.CompleteAsync(CancellationToken.None);
            var stats = await outgoing.FinalStats;
            var report = await incoming.Consistency.WaitAsync(TimeSpan.FromSeconds(30), ct);

            // QEMU's own counters after completion: the bytes that went over the multifd channels, and the channel count it ran with.
            var migrate = JsonNode.Parse(await a.PassthroughAsync(vmId, """{"execute":"query-migrate"}""", ct))?["return"];
            var parameters = JsonNode.Parse(await a.PassthroughAsync(vmId, """{"execute":"query-migrate-parameters"}""", ct))?["return"];
            var capabilities = JsonNode.Parse(await a.PassthroughAsync(vmId, """{"execute":"query-migrate-capabilities"}""", ct))?["return"]?.AsArray();
            var multifdOn = capabilities?.Any(c => c?["capability"]?.GetValue<string>() == "multifd" && c["state"]?.GetValue<bool>() == true) == true;
            var multifdBytes = migrate?["ram"]?["multifd-bytes"]?.GetValue<long>() ?? 0;
            var qemuChannels = multifdOn ? parameters?["multifd-channels"]?.GetValue<long>() ?? 0 : 1;
            return new MultifdSample(stats?.TotalTimeMs ?? double.NaN, stats?.DowntimeMs ?? double.NaN, stats?.SetupTimeMs ?? double.NaN,
                (stats?.BandwidthBytesPerSecond ?? double.NaN) / 1e6, stats?.TransferredBytes ?? 0, multifdBytes, (int)qemuChannels, wallMs,
                report is { Consistent: true });
        }
        finally
        {
            await a.DestroyVmAsync(vmId, CancellationToken.None);
            await b.DestroyVmAsync(vmId, CancellationToken.None);
        }
    }

    private static MultifdModeResult Stats(int channels, List<MultifdSample> samples)
    {
        double P50(Func<MultifdSample, double> f) => Math.Round(Percentiles.Of([.. samples.Select(f)], 50), 3);
        return new MultifdModeResult(
            channels,
            P50(s => s.TotalMs),
            P50(s => s.DowntimeMs),
            P50(s => s.SetupMs),
            P50(s => s.ThroughputMBps),
            P50(s => s.TransferredBytes / 1048576.0),
            P50(s => s.MultifdBytes / 1048576.0),
            P50(s => s.WallMs),
            [.. samples.Select(s => s.QemuChannels).Distinct()],
            samples.Count(s => s.Consistent),
            [.. samples.Select(s => Math.Round(s.TotalMs, 1))],
            [.. samples.Select(s => Math.Round(s.DowntimeMs, 3))],
            [.. samples.Select(s => Math.Round(s.ThroughputMBps, 1))]);
    }

    private sealed record MultifdSample(double TotalMs, double DowntimeMs, double SetupMs, double ThroughputMBps, long TransferredBytes, long MultifdBytes,
        int QemuChannels, double WallMs, bool Consistent);
}

/// <summary>What <c>omig bench multifd</c> writes.</summary>
public sealed record MultifdBenchmarkResult(
    [property: JsonPropertyName("runs")] int Runs,
    [property: JsonPropertyName("accelerator")] string Accelerator,
    [property: JsonPropertyName("accelerator_reason")] string AcceleratorReason,
    [property: JsonPropertyName("guest_mib")] int GuestMiB,
    [property: JsonPropertyName("guest")] string Guest,
    [property: JsonPropertyName("downtime_target_ms")] double DowntimeTargetMs,
    [property: JsonPropertyName("link_bytes_per_second")] long LinkBytesPerSecond,
    [property: JsonPropertyName("single_stream")] MultifdModeResult SingleStream,
    [property: JsonPropertyName("multifd")] MultifdModeResult Multifd,
    [property: JsonPropertyName("total_time_ratio_p50")] double TotalTimeRatioP50,
    [property: JsonPropertyName("throughput_ratio_p50")] double ThroughputRatioP50,
    [property: JsonPropertyName("consistent")] bool Consistent);

/// <summary>One channel count's medians (QEMU's figures) and every run's values.</summary>
public sealed record MultifdModeResult(
    [property: JsonPropertyName("channels")] int Channels,
    [property: JsonPropertyName("total_ms_p50")] double TotalMsP50,
    [property: JsonPropertyName("downtime_ms_p50")] double DowntimeMsP50,
    [property: JsonPropertyName("setup_ms_p50")] double SetupMsP50,
    [property: JsonPropertyName("throughput_mbytes_per_second_p50")] double ThroughputMBpsP50,
    [property: JsonPropertyName("transferred_mib_p50")] double TransferredMiBP50,
    [property: JsonPropertyName("multifd_mib_p50")] double MultifdMiBP50,
    [property: JsonPropertyName("wall_ms_p50")] double WallMsP50,
    [property: JsonPropertyName("qemu_channels")] ImmutableArray<int> QemuChannels,
    [property: JsonPropertyName("guests_consistent")] int GuestsConsistent,
    [property: JsonPropertyName("total_ms")] ImmutableArray<double> TotalMs,
    [property: JsonPropertyName("downtime_ms")] ImmutableArray<double> DowntimeMs,
    [property: JsonPropertyName("throughput_mbytes_per_second")] ImmutableArray<double> ThroughputMBps);
