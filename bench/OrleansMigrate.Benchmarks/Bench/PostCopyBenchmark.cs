using System.Collections.Immutable;
using System.Diagnostics;
using System.Text.Json.Serialization;
using OrleansMigrate.Hypervisor.Bench;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;

namespace OrleansMigrate.Cli.Bench;

/// <summary>
/// A guest that dirties memory faster than the link can carry, migrated the two ways a control plane can end a pre-copy
/// that will not converge, alternating run by run on the same guest and settings: the forced switchover (the guest stays
/// stopped while the source sends everything still dirty) and the switch to post-copy (the destination runs once the device
/// state arrived and pulls the rest). Two QEMU drivers on this machine, plain QMP migrations (no cloud actions), a fresh
/// guest every run. The guest's downtime is measured the same way for both: the source's STOP event to the destination's
/// RESUME event, on QEMU's own clock; the totals are QEMU's; the destination checks the guest's memory after each.
/// </summary>
public sealed class PostCopyBenchmark(int runs, string image, string guestDescription, int memoryMiB, int warmMs, int switchAfterMs, long linkBytesPerSecond,
    string accelerator, Action<string> log)
{
    /// <summary>A target no guest that dirties faster than the link can meet: pre-copy runs until the switch is forced.</summary>
    private const double DowntimeTargetMs = 1;

    public async Task<PostCopyBenchmarkResult> RunAsync(CancellationToken ct)
    {
        var runtimeDir = Path.Combine(Path.GetTempPath(), $"omig-bpc-{Environment.ProcessId}");
        var options = new QemuDriverOptions { RuntimeDirectory = runtimeDir, StopGuestsOnShutdown = true, Accelerator = accelerator };
        options.ImageDirectories.Add(Path.GetDirectoryName(image)!);
        options.Validate();
        var chosen = await AcceleratorProbe.ResolveAsync(options);
        log($"QEMU accelerator: {chosen}; guest {memoryMiB} MiB from {image}; link {linkBytesPerSecond / 1e6:0.#} MB/s; switch forced after {switchAfterMs} ms of pre-copy; {runs} runs of each");

        var forced = new List<PostCopySample>();
        var postCopy = new List<PostCopySample>();
        await using (var a = new QemuHypervisorDriver("pcb-a", options))
        await using (var b = new QemuHypervisorDriver("pcb-b", options))
        {
            // One warm-up of each (discarded); then the two alternate, so drift on a shared machine hits both alike.
            for (var run = -1; run < runs; run++)
            {
                ct.ThrowIfCancellationRequested();
                var f = await MigrateAsync(a, b, $"forced-{run + 1}", postCopy: false, ct);
                var p = await MigrateAsync(a, b, $"postcopy-{run + 1}", postCopy: true, ct);
                if (run < 0)
                {
                    log($"warm-up: forced downtime {f.DowntimeMs:0} ms, post-copy downtime {p.DowntimeMs:0} ms (discarded)");
                    continue;
                }

                forced.Add(f);
                postCopy.Add(p);
                log($"run {run + 1,2}/{runs}: downtime {f.DowntimeMs:0.0} / {p.DowntimeMs:0.0} ms, total {f.TotalMs:0} / {p.TotalMs:0} ms, " +
                    $"post-copy {p.PostCopyMs:0} ms; guest {(f.Consistent ? "consistent" : "NOT consistent")} / {(p.Consistent ? "consistent" : "NOT consistent")}");
            }
        }

        try
        {
            Directory.Delete(runtimeDir, recursive: true);
        }
        catch (IOException)
        {
        }

        var forcedStats = Stats("forced-switchover", forced);
        var postCopyStats = Stats("post-copy", postCopy);
        return new PostCopyBenchmarkResult(runs, chosen.Accelerator, chosen.Reason, memoryMiB, guestDescription, linkBytesPerSecond, switchAfterMs,
            forcedStats, postCopyStats,
            forcedStats.DowntimeMsP50 > 0 ? Math.Round(postCopyStats.DowntimeMsP50 / forcedStats.DowntimeMsP50, 4) : double.NaN,
            forcedStats.TotalMsP50 > 0 ? Math.Round(postCopyStats.TotalMsP50 / forcedStats.TotalMsP50, 3) : double.NaN,
            forced.Concat(postCopy).All(s => s.Consistent) && postCopy.All(s => s.RanPostCopy));
    }

    private async Task<PostCopySample> MigrateAsync(QemuHypervisorDriver a, QemuHypervisorDriver b, string vmId, bool postCopy, CancellationToken ct)
    {
        var spec = new VmSpec { VmId = vmId, MemoryMiB = memoryMiB, VCpuCount = 1, Qemu = new QemuGuest { ImagePath = image } };
        await a.CreateVmAsync(spec, ct);
        await a.StartVmAsync(vmId, ct);
        try
        {
            await Task.Delay(warmMs, ct);
            await b.CreateVmAsync(spec, ct);
            var incoming = (QemuIncomingMigration)await b.PrepareIncomingAsync(vmId, new IncomingMigrationOptions { VerifyConsistency = true, PostCopy = postCopy }, ct);
            var started = Stopwatch.GetTimestamp();
            var outgoing = (QemuOutgoingMigration)await a.StartOutgoingAsync(vmId, incoming.Endpoint,
                new MigrationOptions { DowntimeTargetMs = DowntimeTargetMs, LinkBandwidthBytesPerSecond = linkBytesPerSecond, PostCopy = postCopy, MaxPreCopyMs = 3_600_000 }, ct);

            // The pause is acted on from QEMU's event pump, as the host agents do: no round trip inside the downtime.
            outgoing.ContinueAtPause = true;
            await Task.Delay(switchAfterMs, ct);
            if (outgoing.PreSwitchover.IsCompleted)
            {
                throw new InvalidOperationException($"{vmId} converged within {switchAfterMs} ms: the guest does not dirty faster than the link; lower --guest-delay or the link");
            }

            outgoing.RequestSwitchover();
            var paused = await outgoing.PreSwitchover.WaitAsync(TimeSpan.FromMinutes(5), ct);
            await outgoing.FinalCopyAsync(CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(5), ct);
            await incoming.Received.WaitAsync(TimeSpan.FromMinutes(5), ct);
            var resumed = await incoming.ResumeAsync(CancellationToken.None);
            await outgoing.CompleteAsync(CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(10), ct);
            var wallMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var stats = await outgoing.FinalStats;
            var report = await incoming.Consistency.WaitAsync(TimeSpan.FromMinutes(2), ct);
            return new PostCopySample((resumed.ResumedAtUtc - paused.PausedAtUtc).TotalMilliseconds, stats?.DowntimeMs ?? double.NaN, stats?.TotalTimeMs ?? double.NaN,
                outgoing.PostCopyMs ?? 0, (stats?.TransferredBytes ?? 0) / 1048576.0, wallMs, outgoing.PostCopyStarted, report is { Consistent: true });
        }
        finally
        {
            await a.DestroyVmAsync(vmId, CancellationToken.None);
            await b.DestroyVmAsync(vmId, CancellationToken.None);
        }
    }

    private static PostCopyModeResult Stats(string mode, List<PostCopySample> samples)
    {
        double P(Func<PostCopySample, double> f, double p) => Math.Round(Percentiles.Of([.. samples.Select(f)], p), 3);
        return new PostCopyModeResult(
            mode,
            P(s => s.DowntimeMs, 50),
            P(s => s.DowntimeMs, 99),
            P(s => s.QemuDowntimeMs, 50),
            P(s => s.TotalMs, 50),
            P(s => s.PostCopyMs, 50),
            P(s => s.TransferredMiB, 50),
            P(s => s.WallMs, 50),
            samples.Count(s => s.RanPostCopy),
            samples.Count(s => s.Consistent),
            [.. samples.Select(s => Math.Round(s.DowntimeMs, 3))],
            [.. samples.Select(s => Math.Round(s.TotalMs, 1))]);
    }

    private sealed record PostCopySample(double DowntimeMs, double QemuDowntimeMs, double TotalMs, double PostCopyMs, double TransferredMiB, double WallMs,
        bool RanPostCopy, bool Consistent);
}

/// <summary>What <c>omig bench postcopy</c> writes.</summary>
public sealed record PostCopyBenchmarkResult(
    [property: JsonPropertyName("runs")] int Runs,
    [property: JsonPropertyName("accelerator")] string Accelerator,
    [property: JsonPropertyName("accelerator_reason")] string AcceleratorReason,
    [property: JsonPropertyName("guest_mib")] int GuestMiB,
    [property: JsonPropertyName("guest")] string Guest,
    [property: JsonPropertyName("link_bytes_per_second")] long LinkBytesPerSecond,
    [property: JsonPropertyName("switch_after_ms")] int SwitchAfterMs,
    [property: JsonPropertyName("forced_switchover")] PostCopyModeResult ForcedSwitchover,
    [property: JsonPropertyName("post_copy")] PostCopyModeResult PostCopy,
    [property: JsonPropertyName("downtime_ratio_p50")] double DowntimeRatioP50,
    [property: JsonPropertyName("total_time_ratio_p50")] double TotalTimeRatioP50,
    [property: JsonPropertyName("consistent")] bool Consistent);

/// <summary>One way of ending the pre-copy: medians (and p99 of the downtime) and every run's values.</summary>
public sealed record PostCopyModeResult(
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("downtime_ms_p50")] double DowntimeMsP50,
    [property: JsonPropertyName("downtime_ms_p99")] double DowntimeMsP99,
    [property: JsonPropertyName("qemu_downtime_ms_p50")] double QemuDowntimeMsP50,
    [property: JsonPropertyName("total_ms_p50")] double TotalMsP50,
    [property: JsonPropertyName("post_copy_ms_p50")] double PostCopyMsP50,
    [property: JsonPropertyName("transferred_mib_p50")] double TransferredMiBP50,
    [property: JsonPropertyName("wall_ms_p50")] double WallMsP50,
    [property: JsonPropertyName("ran_post_copy")] int RanPostCopy,
    [property: JsonPropertyName("guests_consistent")] int GuestsConsistent,
    [property: JsonPropertyName("downtime_ms")] ImmutableArray<double> DowntimeMs,
    [property: JsonPropertyName("total_ms")] ImmutableArray<double> TotalMs);
