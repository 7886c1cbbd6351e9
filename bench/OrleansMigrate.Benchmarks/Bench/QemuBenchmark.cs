using System.Collections.Immutable;
using System.Diagnostics;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Cli.Demo;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Hypervisor.Bench;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Migration;
using FleetVmSpec = OrleansMigrate.Fleet.VmSpec;

namespace OrleansMigrate.Cli.Bench;

/// <summary>
/// The same QEMU guest (our dirtying boot sector) and the same migration settings, alternating run by run:
/// (a) a plain QMP migration driven directly by two QEMU drivers, no cloud actions; (b) the full orchestrated
/// migration through the migration grain of an embedded cluster whose two hosts run QEMU, with a cloud disk
/// hand-over and a VPC relay inside the switchover. Every run boots a fresh guest, lets it dirty memory, then
/// migrates it; downtime is QEMU's own <c>query-migrate</c> figure, and the guest-visible downtime (source STOP
/// event → destination RESUME event, QMP timestamps of one machine) is reported beside it.
/// </summary>
public sealed class QemuBenchmark(int runs, string image, string guestDescription, int memoryMiB, int warmMs, string priority, string accelerator, Action<string> log,
    Hypervisor.CpuSet? housekeeping = null, Hypervisor.CpuSet? vcpus = null)
{
    private const double DowntimeTargetMs = 20;
    private const long LinkBytesPerSecond = 1_250_000_000;

    public async Task<QemuBenchmarkResult> RunAsync(CancellationToken ct)
    {
        var runtimeDir = Path.Combine(Path.GetTempPath(), $"omig-bq-{Environment.ProcessId}");
        var options = new QemuDriverOptions
        {
            RuntimeDirectory = runtimeDir, ProcessPriority = priority, StopGuestsOnShutdown = true, Accelerator = accelerator,
            EmulatorCpus = housekeeping?.ToString(), VcpuCpus = vcpus?.ToString(),
        };
        if (housekeeping is not null)
        {
            // This process is the host silo of both modes (and drives the plain one): it shares the housekeeping cores
            // with QEMU's emulator threads, apart from the vCPUs.
            log($"pinned {housekeeping.PinProcess(Environment.ProcessId)} threads of this process to CPUs {housekeeping}; QEMU emulator threads to {housekeeping}, vCPUs to {vcpus?.ToString() ?? "any"}");
        }

        options.ImageDirectories.Add(Path.GetDirectoryName(image)!);
        options.Validate();
        var chosen = await AcceleratorProbe.ResolveAsync(options);
        log($"QEMU accelerator: {chosen}; guest {memoryMiB} MiB from {image}; QEMU priority {priority}; {runs} runs per mode");

        double diskPromoteMs = 0;
        var plain = new List<Sample>();
        var orchestrated = new List<Sample>();
        await using (var a = new QemuHypervisorDriver("plain-a", options))
        await using (var b = new QemuHypervisorDriver("plain-b", options))
        await using (var cluster = await EmbeddedCluster.StartAsync(0, ct, silo => silo.Services.PostConfigure<HostRuntimeOptions>(o =>
        {
            o.Driver = HypervisorKind.Qemu;
            o.Qemu = options;
        })))
        {
            var client = cluster.Client;
            diskPromoteMs = cluster.Services.GetRequiredService<CloudBackendOptions>().DiskReopenReadWriteMs;
            foreach (var host in DemoFleet.Hosts(2))
            {
                await client.AddHostAsync(host with { FirmwareVersion = "2.4.0", HardwareGeneration = 4 });
            }

            // One warm-up of each (discarded): JIT, first activations, QEMU's first start.
            for (var run = -1; run < runs; run++)
            {
                ct.ThrowIfCancellationRequested();
                var p = await PlainAsync(a, b, run, ct);
                var o = await OrchestratedAsync(client, run, ct);
                if (run < 0)
                {
                    log($"warm-up: plain {p.DowntimeMs:0.0} ms, orchestrated {o.DowntimeMs:0.0} ms (discarded)");
                    continue;
                }

                plain.Add(p);
                orchestrated.Add(o);
                log($"run {run + 1,2}/{runs}: QEMU downtime plain {p.DowntimeMs:0.0} ms / orchestrated {o.DowntimeMs:0.0} ms; " +
                    $"guest-visible {p.GuestVisibleMs:0.0} / {o.GuestVisibleMs:0.0} ms; total {p.TotalMs:0} / {o.TotalMs:0} ms; " +
                    $"guest check {Words(p.Check)} / {Words(o.Check)}");
            }
        }

        try
        {
            Directory.Delete(runtimeDir, recursive: true);
        }
        catch (IOException)
        {
        }

        var plainStats = Stats(plain);
        var orchestratedStats = Stats(orchestrated);

        // The breakdown of one run: the orchestrated run whose guest-visible downtime is nearest the median.
        var median = orchestrated.OrderBy(o => Math.Abs(o.GuestVisibleMs - orchestratedStats.GuestVisibleMsP50)).FirstOrDefault();
        return new QemuBenchmarkResult(
            runs,
            plainStats,
            orchestratedStats,
            plainStats.DowntimeMsP50 > 0 ? Math.Round(orchestratedStats.DowntimeMsP50 / plainStats.DowntimeMsP50, 3) : double.NaN,
            plainStats.GuestVisibleMsP50 > 0 ? Math.Round(orchestratedStats.GuestVisibleMsP50 / plainStats.GuestVisibleMsP50, 3) : double.NaN,
            plain.Concat(orchestrated).All(s => s.Check.Verdict == GuestCheckVerdict.Consistent),
            chosen.Accelerator,
            memoryMiB,
            DowntimeTargetMs,
            priority,
            guestDescription)
        {
            AcceleratorReason = chosen.Reason,
            RatioP99 = plainStats.DowntimeMsP99 > 0 ? Math.Round(orchestratedStats.DowntimeMsP99 / plainStats.DowntimeMsP99, 3) : double.NaN,
            GuestVisibleRatioP99 = plainStats.GuestVisibleMsP99 > 0 ? Math.Round(orchestratedStats.GuestVisibleMsP99 / plainStats.GuestVisibleMsP99, 3) : double.NaN,
            GuestVisibleAddedMsP50 = Math.Round(orchestratedStats.GuestVisibleMsP50 - plainStats.GuestVisibleMsP50, 3),
            DiskPromoteMs = diskPromoteMs,
            CriticalPathCallsP50 = orchestrated.Count == 0 ? 0 : Percentiles.Of([.. orchestrated.Select(o => (double)o.CriticalPathCalls)], 50),
            MedianRunTimeline = median?.Timeline ?? [],
            HousekeepingCpus = housekeeping?.ToString(),
            VcpuCpus = vcpus?.ToString(),
        };
    }

    private static string Words(GuestCheck check) => check.Verdict switch
    {
        GuestCheckVerdict.Consistent => "consistent",
        GuestCheckVerdict.Inconsistent => "INCONSISTENT: " + check.Detail,
        _ => "not checked: " + check.Detail,
    };

    private async Task<Sample> PlainAsync(QemuHypervisorDriver a, QemuHypervisorDriver b, int run, CancellationToken ct)
    {
        var vmId = $"plain-{run + 1}";
        var spec = new Hypervisor.Drivers.VmSpec { VmId = vmId, MemoryMiB = memoryMiB, VCpuCount = 1, Qemu = new QemuGuest { ImagePath = image } };
        await a.CreateVmAsync(spec, ct);
        await a.StartVmAsync(vmId, ct);
        try
        {
            await Task.Delay(warmMs, ct);
            await b.CreateVmAsync(spec, ct);
            var incoming = (QemuIncomingMigration)await b.PrepareIncomingAsync(vmId, new IncomingMigrationOptions { VerifyConsistency = true }, ct);
            var started = Stopwatch.GetTimestamp();
            var outgoing = (QemuOutgoingMigration)await a.StartOutgoingAsync(vmId, incoming.Endpoint,
                new MigrationOptions { DowntimeTargetMs = DowntimeTargetMs, LinkBandwidthBytesPerSecond = LinkBytesPerSecond }, ct);
            await outgoing.PreSwitchover.WaitAsync(TimeSpan.FromMinutes(2), ct);
            await outgoing.FinalCopyAsync(CancellationToken.None);
            await incoming.Received.WaitAsync(TimeSpan.FromSeconds(30), ct);
            var resumed = await incoming.ResumeAsync(CancellationToken.None);
            var totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            await outgoing.CompleteAsync(CancellationToken.None);
            var stats = await outgoing.FinalStats;
            log($"  plain: stop→pre {outgoing.StopToPreSwitchoverMs:0.00} hold {outgoing.PauseHoldMs:0.00} ms, device stage {outgoing.DeviceStageMs:0.00} ms");
            // Read the destination guest the same way the orchestrated half's agent does: a check that cannot run is "not checked".
            GuestCheck check;
            try
            {
                var report = await incoming.Consistency.WaitAsync(TimeSpan.FromSeconds(30), ct);
                check = report is null
                    ? GuestCheck.NotChecked("no dirtying-guest header in the destination's memory")
                    : new GuestCheck(report.Consistent ? GuestCheckVerdict.Consistent : GuestCheckVerdict.Inconsistent, report.Summary);
            }
            catch (Exception ex) when (ex is QemuException or TimeoutException or IOException or Hypervisor.Qmp.QmpConnectionException or Hypervisor.Qmp.QmpTimeoutException or Hypervisor.Qmp.QmpCommandException)
            {
                check = GuestCheck.NotChecked($"the check could not run: {ex.Message}");
            }

            return new Sample(stats?.DowntimeMs ?? double.NaN, (resumed.ResumedAtUtc - outgoing.StoppedAtUtc).TotalMilliseconds, totalMs, check);
        }
        finally
        {
            await a.DestroyVmAsync(vmId, CancellationToken.None);
            await b.DestroyVmAsync(vmId, CancellationToken.None);
        }
    }

    private async Task<Sample> OrchestratedAsync(Client.OmigClient client, int run, CancellationToken ct)
    {
        var vmId = $"orch-{run + 1}";
        var ip = $"10.8.0.{10 + run + 1}";
        var spec = new FleetVmSpec(vmId, 1, memoryMiB, [], "standard", ImmutableDictionary<string, string>.Empty,
            [new DiskSpec(vmId + "-root", 20)], [new NicSpec("vpc-qemu-bench", ip, OrleansMigrate.Client.Parsing.CliParsers.DeriveMac(vmId, ip))], [], image);
        await client.CreateVmAsync(spec, "host-1");
        try
        {
            await Task.Delay(warmMs, ct);
            var started = Stopwatch.GetTimestamp();
            var status = await client.MigrateAsync(new MigrationRequest(vmId, "host-2", Policy: "standard"));
            await foreach (var s in client.WatchMigrationAsync(status.MigrationId, ct))
            {
                status = s;
                if (s.IsEnded)
                {
                    break;
                }
            }

            var totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (status.Phase != MigrationPhase.Completed)
            {
                throw new InvalidOperationException($"orchestrated migration of {vmId} ended {Naming.EnumNames.Of(status.Phase)}: {status.Failure}");
            }

            log($"  orchestrated: stop→pre {status.Hypervisor?.StopMs:0.00} hold {status.Hypervisor?.PauseHoldMs:0.00} ms, device stage {status.Hypervisor?.DeviceStageMs:0.00} ms, " +
                $"{status.Downtime?.CriticalPathCalls} grain calls; timeline {string.Join(", ", status.Downtime?.Timeline.Select(t => t.EndMs > t.StartMs ? $"{t.Step} {t.StartMs:0.0}-{t.EndMs:0.0}" : $"{t.Step} {t.StartMs:0.0}") ?? [])}");
            // The verdict the destination's agent read from the guest after the resume, not "the migration did not fail".
            return new Sample(status.Hypervisor?.DowntimeMs ?? double.NaN, status.Downtime?.DowntimeMs ?? double.NaN, totalMs,
                status.GuestCheck ?? GuestCheck.NotChecked("the migration reported no guest check"))
            {
                Timeline = status.Downtime?.Timeline ?? [],
                CriticalPathCalls = status.Downtime?.CriticalPathCalls ?? 0,
            };
        }
        finally
        {
            await client.DeleteVmAsync(vmId);
        }
    }

    private static QemuModeResult Stats(List<Sample> samples)
    {
        var checks = samples.Select(s => s.Check.Verdict).ToList();
        var downtime = samples.Select(s => s.DowntimeMs).ToList();
        var visible = samples.Select(s => s.GuestVisibleMs).ToList();
        return new QemuModeResult(
            Math.Round(Percentiles.Of(downtime, 50), 3),
            Math.Round(Percentiles.Of(downtime, 99), 3),
            Math.Round(Percentiles.Of(visible, 50), 3),
            Math.Round(Percentiles.Of(visible, 99), 3),
            Math.Round(Percentiles.Of(samples.Select(s => s.TotalMs).ToList(), 50), 1),
            [.. downtime.Select(d => Math.Round(d, 3))],
            checks.Count(v => v == GuestCheckVerdict.Consistent),
            checks.Count(v => v == GuestCheckVerdict.Inconsistent),
            checks.Count(v => v == GuestCheckVerdict.NotChecked),
            [.. samples.Where(s => s.Check.Verdict != GuestCheckVerdict.Consistent).Select(s => Words(s.Check)).Distinct()]);
    }

    private sealed record Sample(double DowntimeMs, double GuestVisibleMs, double TotalMs, GuestCheck Check)
    {
        public ImmutableArray<SwitchoverStepTime> Timeline { get; init; } = [];

        public int CriticalPathCalls { get; init; }
    }
}

/// <summary>What <c>omig bench qemu</c> writes.</summary>
public sealed record QemuBenchmarkResult(
    [property: JsonPropertyName("runs")] int Runs,
    [property: JsonPropertyName("plain")] QemuModeResult Plain,
    [property: JsonPropertyName("orchestrated")] QemuModeResult Orchestrated,
    [property: JsonPropertyName("ratio_p50")] double RatioP50,
    [property: JsonPropertyName("guest_visible_ratio_p50")] double GuestVisibleRatioP50,
    [property: JsonPropertyName("consistent")] bool Consistent,
    [property: JsonPropertyName("accelerator")] string Accelerator,
    [property: JsonPropertyName("guest_mib")] int GuestMiB,
    [property: JsonPropertyName("downtime_target_ms")] double DowntimeTargetMs,
    [property: JsonPropertyName("qemu_priority")] string QemuPriority,
    [property: JsonPropertyName("guest")] string Guest)
{
    /// <summary>Why <see cref="Accelerator"/> was chosen (configured, no /dev/kvm, or the KVM probe's result).</summary>
    [JsonPropertyName("accelerator_reason")]
    public string AcceleratorReason { get; init; } = "";

    /// <summary>p99 of the orchestrated QEMU-reported downtime over the plain one's p99.</summary>
    [JsonPropertyName("ratio_p99")]
    public double RatioP99 { get; init; }

    /// <summary>p99 of the orchestrated guest-visible downtime over the plain one's p99.</summary>
    [JsonPropertyName("guest_visible_ratio_p99")]
    public double GuestVisibleRatioP99 { get; init; }

    /// <summary>Guest-visible p50 of the orchestrated runs minus that of the plain runs: what the control plane adds, ms.</summary>
    [JsonPropertyName("guest_visible_added_ms_p50")]
    public double GuestVisibleAddedMsP50 { get; init; }

    /// <summary>The simulated disk promote's latency in the orchestrated runs (the one cloud step the guest must wait for), ms.</summary>
    [JsonPropertyName("disk_promote_ms")]
    public double DiskPromoteMs { get; init; }

    /// <summary>Grain calls between the pause and the resume, median over the orchestrated runs.</summary>
    [JsonPropertyName("critical_path_calls_p50")]
    public double CriticalPathCallsP50 { get; init; }

    /// <summary>Every switchover step of the orchestrated run nearest the median guest-visible downtime, ms from the pause.</summary>
    [JsonPropertyName("median_run_timeline")]
    public ImmutableArray<SwitchoverStepTime> MedianRunTimeline { get; init; } = [];

    /// <summary>CPUs of this process (the host silo) and of QEMU's emulator threads, or null when unpinned.</summary>
    [JsonPropertyName("housekeeping_cpus")]
    public string? HousekeepingCpus { get; init; }

    /// <summary>CPUs of the guests' vCPU threads, or null when unpinned.</summary>
    [JsonPropertyName("vcpu_cpus")]
    public string? VcpuCpus { get; init; }
}

/// <summary>One mode's figures: QEMU-reported downtime, and guest-visible downtime (source STOP → destination RESUME).</summary>
public sealed record QemuModeResult(
    [property: JsonPropertyName("downtime_ms_p50")] double DowntimeMsP50,
    [property: JsonPropertyName("downtime_ms_p99")] double DowntimeMsP99,
    [property: JsonPropertyName("guest_visible_downtime_ms_p50")] double GuestVisibleMsP50,
    [property: JsonPropertyName("guest_visible_downtime_ms_p99")] double GuestVisibleMsP99,
    [property: JsonPropertyName("total_ms_p50")] double TotalMsP50,
    [property: JsonPropertyName("downtime_ms")] ImmutableArray<double> DowntimeMs,
    [property: JsonPropertyName("guests_consistent")] int GuestsConsistent,
    [property: JsonPropertyName("guests_inconsistent")] int GuestsInconsistent,
    [property: JsonPropertyName("guests_not_checked")] int GuestsNotChecked,
    [property: JsonPropertyName("guest_check_problems")] ImmutableArray<string> GuestCheckProblems);
