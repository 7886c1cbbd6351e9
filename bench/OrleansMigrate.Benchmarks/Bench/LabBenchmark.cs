using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Cloud.Nbd;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Hypervisor.Linux.Guest;
using OrleansMigrate.Lab;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Cli.Bench;

/// <summary>What <c>omig bench lab</c> runs.</summary>
public sealed record LabBenchOptions
{
    /// <summary>Migrations per mode.</summary>
    public int Runs { get; init; } = 3;

    /// <summary>The modes, migrated in turn (interleaved) in every run.</summary>
    public IReadOnlyList<OrchestrationMode> Modes { get; init; } = Enum.GetValues<OrchestrationMode>();

    /// <summary>PostgreSQL reached over its unix socket (<c>Host=/dir</c>): the host silos run inside the lab's
    /// namespaces, which do not reach this machine's loopback.</summary>
    public required string ConnectionString { get; init; }

    public required string SiloDll { get; init; }

    /// <summary>The Linux guest's kernel and initramfs (<c>vmlinuz</c>, <c>initrd.img</c>; guest/linux/build.sh).</summary>
    public required string GuestDirectory { get; init; }

    /// <summary>The bench's own lab: prefix, underlay and transit networks no other lab uses.</summary>
    public string Prefix { get; init; } = "omb";

    public string Underlay { get; init; } = "10.77.60.0/24";

    public string Transit { get; init; } = "10.78.60.0/24";

    /// <summary>Where the lab's state, the storage daemon's images and the QEMU runtime go.</summary>
    public string Directory { get; init; } = Path.Combine(Path.GetTempPath(), "omig-bench-lab");

    /// <summary>Seconds of traffic around each migration (the migration starts 3 s in).</summary>
    public int WindowSeconds { get; init; } = 20;

    /// <summary>UDP echoes per second from the client namespace.</summary>
    public int UdpRate { get; init; } = 1000;

    /// <summary>Long-lived TCP streams through the hosts' firewalls.</summary>
    public int TcpStreams { get; init; } = 8;

    /// <summary>How long a migration waits for a host agent that does not answer before it gives up on it
    /// (<c>Omig:AgentWaitTimeoutSeconds</c> of the control silo).</summary>
    public int AgentWaitTimeoutSeconds { get; init; } = 300;

    /// <summary>auto, kvm or tcg.</summary>
    public string Accelerator { get; init; } = "auto";
}

/// <summary>What a lab migration does to its destination mid-copy.</summary>
public enum LabDestinationFault
{
    None = 0,

    /// <summary>SIGKILL the destination's QEMU.</summary>
    KillQemu = 1,

    /// <summary>SIGKILL the destination host's silo and the QEMUs it started: the host is gone.</summary>
    KillHost = 2,
}

/// <summary>One mode's figures (the issue's JSON fields).</summary>
public sealed record LabModeResult(
    string Mode,
    int Runs,
    int Completed,
    double? DowntimeGuestMsP50,
    double? DowntimeGuestMsP99,
    double? QemuDowntimeMsP50,
    int UdpSent,
    int UdpLost,
    int TcpStreams,
    int TcpSurvived,
    int DiskRecordsLost,
    int DiskRecordsDuplicated,
    long? DiskWritesAfterFence,
    int DiskFencesChecked,
    int DiskFencesNotChecked,
    string DiskWritesAfterFenceNote,
    int PausedByControlPlane,
    int RelayBeforePause,
    IReadOnlyDictionary<string, double> StepsMs,
    IReadOnlyList<LabRunResult> Each);

/// <summary>One migration and what the traffic and the disk saw.</summary>
public sealed record LabRunResult(
    string MigrationId,
    string From,
    string To,
    string Phase,
    string? Failure,
    double? DowntimeMs,
    double? QemuDowntimeMs,
    double GuestGapMs,
    int UdpSent,
    int UdpLost,
    int TcpSurvived,
    IReadOnlyList<string> TcpErrors,
    long? SessionDeltaEntries,
    ulong? DurableRecord,
    int DiskRecordsLost,
    int DiskRecordsDuplicated,
    int DiskCrcFailures,
    IReadOnlyDictionary<string, double> StepsMs)
{
    /// <summary>The destination's QEMU was killed during the migration (a rollback run).</summary>
    public bool DestinationKilled { get; init; }

    /// <summary>The block store's fences of the disk's holders that began during this migration, as it measured them.</summary>
    public IReadOnlyList<DiskFenceAudit> Fences { get; init; } = [];

    /// <summary>The echoes never answered (their seqs, about ms since the probe started: the migration is asked for at
    /// 3,000), as ranges: <c>3709-3712, 3790</c>; at most the probe's first 1,000.</summary>
    public string LostEchoes { get; init; } = "";

    /// <summary>A completed migration whose store recorded no fence: its check could not run.</summary>
    public bool FenceMissing => Phase == "completed" && Fences.Count == 0;

    /// <summary>Fences whose count was read.</summary>
    public int FencesChecked => Fences.Count(f => f.BytesWrittenAfter is not null);

    /// <summary>Fences whose count could not be read, and a completed migration that recorded none.</summary>
    public int FencesNotChecked => Fences.Count(f => f.BytesWrittenAfter is null) + (FenceMissing ? 1 : 0);

    /// <summary>512-byte sectors the fenced holders wrote after their fences began (over the fences checked).</summary>
    public long SectorsWrittenAfterFence => Fences.Sum(f => f.SectorsWrittenAfter ?? 0);

    /// <summary>The switchover's timeline as the hosts measured it: <c>step @host start–end</c>, ms from the source's pause.</summary>
    public IReadOnlyList<string> Timeline { get; init; } = [];

    /// <summary>Whether the control plane paused the source guest itself (<c>stop sent</c> on the timeline: the relays went on
    /// first, with the guest running) rather than QEMU's own check (its STOP came first); null without a timeline.</summary>
    public bool? PausedByControlPlane { get; init; }

    /// <summary>QEMU's passes over memory (dirty-bitmap syncs) and its total time, in ms, as it reported them; null when it
    /// reported none.</summary>
    public long? QemuPasses { get; init; }

    /// <inheritdoc cref="QemuPasses"/>
    public double? QemuTotalMs { get; init; }

    /// <summary>When the source switched its relay on, in ms from its pause (negative: before it, with the guest running);
    /// null when the source switched none.</summary>
    public double? RelayOnAtSourceMs { get; init; }

    /// <summary>The echo whose reply opened the longest gap (its seq is ms since the probe started; the migration is asked
    /// for 3 s in); null when no gap was measured.</summary>
    public long? GuestGapAfterSeq { get; init; }

    /// <summary>The lists and maps the record's own text prints as type names: the broken streams' errors, the timeline and
    /// the steps, on one line for a failure report.</summary>
    public string Details() => string.Create(CultureInfo.InvariantCulture,
        $"gap after echo {GuestGapAfterSeq?.ToString(CultureInfo.InvariantCulture) ?? "-"}; lost echoes [{LostEchoes}]; fences [{string.Join("; ", Fences.Select(f => $"{f.HostId} g{f.FencedForGeneration} {f.End ?? "running"} {(f.SectorsWrittenAfter is { } n ? $"{n} sectors after" : "not checked: " + f.NotChecked)}"))}]; tcp errors [{string.Join("; ", TcpErrors)}]; timeline [{string.Join("; ", Timeline)}]; steps [{string.Join("; ", StepsMs.Select(p => $"{p.Key}={p.Value}"))}]");
}

public sealed record LabBenchResult(
    int Runs,
    string Accelerator,
    string Date,
    int GuestMiB,
    int WindowSeconds,
    int UdpRatePerSecond,
    IReadOnlyList<LabModeResult> Modes);

/// <summary>
/// <c>omig bench lab</c>: the Linux guest on real Linux parts, migrated by a real cluster (<see cref="LabCluster"/>), in
/// each mode in turn, per run; the figures per mode.
/// </summary>
public sealed class LabBenchmark(LabBenchOptions options, Action<string> log)
{
    public async Task<LabBenchResult> RunAsync(CancellationToken ct)
    {
        await using var cluster = await LabCluster.StartAsync(options, log, ct);
        var runs = options.Modes.ToDictionary(m => m, _ => new List<LabRunResult>());
        for (var run = 1; run <= options.Runs; run++)
        {
            foreach (var mode in options.Modes)
            {
                var result = await cluster.MigrateUnderTrafficAsync(mode, ct: ct);
                runs[mode].Add(result);
                log($"run {run} {ModeName(mode),-15} {result.From}->{result.To} {result.Phase}: guest gap {result.GuestGapMs:0.0} ms, downtime {result.DowntimeMs:0.0} ms (QEMU {result.QemuDowntimeMs:0.0}), "
                    + $"udp lost {result.UdpLost}/{result.UdpSent}, tcp {result.TcpSurvived}/{options.TcpStreams}, disk lost {result.DiskRecordsLost} dup {result.DiskRecordsDuplicated} (durable {result.DurableRecord}), "
                    + $"fences {result.FencesChecked} checked ({result.SectorsWrittenAfterFence} sectors after) {result.FencesNotChecked} not"
                    + (result.RelayOnAtSourceMs is { } relayAt ? $", relay on at the source {relayAt:0.0} ms from the pause ({(result.PausedByControlPlane == true ? "paused by the control plane" : relayAt < 0 ? "paused by QEMU within the lead" : "paused by QEMU")})" : "")
                    + (result.QemuPasses is { } passes ? $", QEMU {passes} passes in {result.QemuTotalMs:0} ms" : "")
                    + (result.Failure is null ? "" : $"; failure: {result.Failure}"));
            }
        }

        await cluster.DeleteVmAsync();
        return new LabBenchResult(options.Runs, cluster.Accelerator, DateTimeOffset.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), LabCluster.GuestMiB, options.WindowSeconds,
            options.UdpRate, [.. options.Modes.Select(m => Summarise(m, runs[m]))]);
    }

    private LabModeResult Summarise(OrchestrationMode mode, List<LabRunResult> runs)
    {
        var done = runs.Where(r => r.Phase == "completed").ToList();
        var gaps = done.Select(r => r.GuestGapMs).Order().ToList();
        var qemu = done.Where(r => r.QemuDowntimeMs is not null).Select(r => r.QemuDowntimeMs!.Value).Order().ToList();
        var steps = done.SelectMany(r => r.StepsMs).GroupBy(p => p.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => Math.Round(Percentile(g.Select(p => p.Value).Order().ToList(), 0.5)!.Value, 3), StringComparer.Ordinal);
        return new LabModeResult(ModeName(mode), runs.Count, done.Count, Percentile(gaps, 0.5), Percentile(gaps, 0.99), Percentile(qemu, 0.5),
            runs.Sum(r => r.UdpSent), runs.Sum(r => r.UdpLost), runs.Count * options.TcpStreams, runs.Sum(r => r.TcpSurvived),
            runs.Sum(r => r.DiskRecordsLost), runs.Sum(r => r.DiskRecordsDuplicated),
            runs.Sum(r => r.FencesChecked) > 0 ? runs.Sum(r => r.SectorsWrittenAfterFence) : null, runs.Sum(r => r.FencesChecked), runs.Sum(r => r.FencesNotChecked),
            "512-byte sectors a fenced holder wrote after its fence began, summed over the fences checked: the storage daemon serves every holder from a block node of its own and starts a dirty bitmap on it as it fences the holder, read when the holder is closed or handed the disk back; null when no fence was checked. A fence whose count could not be read, and a completed migration that recorded no fence, count as not checked",
            done.Count(r => r.PausedByControlPlane == true), done.Count(r => r.RelayOnAtSourceMs < 0), steps, runs);
    }

    /// <summary>A mode as the issue and the CLI spell it: <c>no-session-copy</c>.</summary>
    public static string ModeName(OrchestrationMode mode) => Naming.EnumNames.Of(mode).Replace('_', '-');

    private static double? Percentile(IReadOnlyList<double> sorted, double p) =>
        sorted.Count == 0 ? null : Math.Round(sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)], 1);
}

/// <summary>
/// A real cluster on a lab of its own, with the Linux guest running: the lab (two host namespaces, the storage namespace
/// with <c>qemu-storage-daemon</c>, the client namespace that is the VPC's gateway), a control silo in the root namespace
/// (the <c>linux</c> network manager and the <c>nbd</c> block store) and one host silo inside each host's namespace (QEMU,
/// taps, conntrack sessions), all on PostgreSQL over its unix socket; the hosts and one VM registered — the Linux guest
/// with a NIC in the VPC and a cloud disk — and booted on h1. <see cref="MigrateUnderTrafficAsync(OrchestrationMode, LabDestinationFault, CancellationToken)"/> moves it under UDP
/// echoes and TCP streams from the client namespace and reads what they and the disk saw. Disposing removes everything it
/// made (silos by PID, QEMUs by their runtime directory, the lab by its prefix), whatever failed.
/// </summary>
public sealed class LabCluster : IAsyncDisposable
{
    public const string VmId = "lab-vm1";
    public const string DiskId = "lab-d1";
    public const string VpcId = "vpc1";
    public const string VmIp = "172.30.0.10";
    public const string VmMac = "52:54:00:00:00:10";
    public const int GuestMiB = 128;
    private static readonly TimeSpan SiloStartLimit = TimeSpan.FromSeconds(120);

    private readonly LabBenchOptions _options;
    private readonly Action<string> _log;
    private readonly LabTopologyOptions _labOptions;
    private readonly List<SiloChildProcess> _silos = [];
    private readonly string _runtime;
    private int _seenLost;
    private int _seenDuplicated;

    private LabCluster(LabBenchOptions options, Action<string> log)
    {
        _options = options;
        _log = log;
        _labOptions = new LabTopologyOptions
        {
            Prefix = options.Prefix, Hosts = 2, Storage = true, Underlay = options.Underlay, Transit = options.Transit,
            StateDirectory = Path.Combine(options.Directory, "lab"),
        };
        Lab = new LabTopology(_labOptions);
        _runtime = Path.Combine(options.Directory, "qemu");
    }

    public LabTopology Lab { get; }

    public OmigClient Client { get; private set; } = null!;

    /// <summary>The accelerator the guest runs under (QEMU's <c>query-kvm</c>): <c>kvm</c> or <c>tcg</c>.</summary>
    public string Accelerator { get; private set; } = "unknown";

    /// <summary>Where the VM runs now.</summary>
    public string At { get; private set; } = "h1";

    /// <summary>The disk's image in the storage daemon's directory.</summary>
    public string DiskImage => Path.Combine(LabStorage.ImageDirectory(_labOptions), DiskId + ".raw");

    public IPEndPoint UdpTarget => new(IPAddress.Parse(VmIp), LabConventions.GuestUdpEchoPort);

    /// <summary>Brings the lab, the cluster and the VM up (a leftover of a killed run with the same prefix removed first).</summary>
    public static async Task<LabCluster> StartAsync(LabBenchOptions options, Action<string> log, CancellationToken ct)
    {
        Check(options);
        var cluster = new LabCluster(options, log);
        try
        {
            await cluster.UpAsync(ct);
            return cluster;
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            cluster.LogSilos();
            await cluster.DisposeAsync();
            throw;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private static void Check(LabBenchOptions options)
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new OmigException(OmigErrorCode.Unavailable, null, "the lab bench needs root (network namespaces, nftables, conntrack); nothing was made");
        }

        var host = new Npgsql.NpgsqlConnectionStringBuilder(options.ConnectionString).Host;
        if (host is null || !host.StartsWith('/'))
        {
            throw OmigException.Invalid("--connection-string", $"Host '{host}' is not a unix socket directory: the host silos run inside the lab's namespaces, which do not reach this machine's loopback "
                + "(give PostgreSQL's socket directory, e.g. Host=/tmp/pg/pgdata)");
        }

        foreach (var file in new[] { "vmlinuz", "initrd.img" }.Select(f => Path.Combine(options.GuestDirectory, f)).Where(f => !File.Exists(f)))
        {
            throw OmigException.Invalid("--guest-dir", $"'{file}' does not exist (build the guest: guest/linux/build.sh {options.GuestDirectory})");
        }
    }

    private async Task UpAsync(CancellationToken ct)
    {
        await Lab.DownAsync(CancellationToken.None);
        LabStorage.Delete(_labOptions);
        KillQemus(_runtime);
        var images = System.IO.Directory.CreateDirectory(Path.Combine(_options.Directory, "images")).FullName;
        var boot = Path.Combine(images, "boot.img");
        await File.WriteAllBytesAsync(boot, new byte[512], ct);

        var clock = Stopwatch.StartNew();
        await Lab.UpAsync(ct);
        await LabStorage.StartAsync(Lab, _labOptions, ct);
        _log($"lab '{_options.Prefix}' up in {clock.ElapsedMilliseconds} ms");

        var clusterId = "lab-" + Guid.NewGuid().ToString("N")[..12];
        string[] common = ["--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:OrleansMigrate=Warning"];
        var control = new SiloChildProcess(_options.SiloDll, "control", "control", "", _options.ConnectionString, clusterId,
            [.. common, "--address", Lab.RootUnderlayAddress, "--Omig:AgentWaitTimeoutSeconds=" + _options.AgentWaitTimeoutSeconds.ToString(CultureInfo.InvariantCulture)]);
        foreach (var (key, value) in LabStorage.SiloConfiguration(_labOptions, storage: true, hostSilo: false))
        {
            control.SetEnvironment(key.Replace(":", "__", StringComparison.Ordinal), value);
        }

        _silos.Add(control);
        for (var i = 1; i <= 2; i++)
        {
            var silo = new SiloChildProcess(_options.SiloDll, $"host-h{i}", "host", $"h{i}", _options.ConnectionString, clusterId,
                [.. common, "--address", Lab.HostUnderlayAddress(i), "--driver", "qemu", "--accel", _options.Accelerator,
                    "--qemu-image-dir", _options.GuestDirectory, "--Omig:Qemu:ImageDirectories:1=" + images, "--qemu-runtime-dir", Path.Combine(_runtime, $"h{i}")],
                Lab.HostNamespace(i));
            foreach (var (key, value) in LabStorage.SiloConfiguration(_labOptions, storage: true, hostSilo: true))
            {
                silo.SetEnvironment(key.Replace(":", "__", StringComparison.Ordinal), value);
            }

            _silos.Add(silo);
        }

        clock.Restart();
        await control.StartAsync(SiloStartLimit, ct);
        await Task.WhenAll(_silos.Skip(1).Select(s => s.StartAsync(SiloStartLimit, ct)));
        _log($"cluster {clusterId}: control in the root namespace, h1 and h2 in theirs; up in {clock.Elapsed.TotalSeconds:0.0} s");

        Client = await OmigClient.ConnectAsync(new OmigClientOptions
        {
            PostgresConnectionString = _options.ConnectionString, ClusterId = clusterId, ServiceId = clusterId, ConnectTimeout = TimeSpan.FromSeconds(60),
        }, ct);
        foreach (var h in new[] { "h1", "h2" })
        {
            await Client.AddHostAsync(new HostSpec(h, 8, 16 * 1024, "lab", [], 1, "1.0.0", "6.1.0", "7.2.0", ImmutableDictionary<string, string>.Empty));
        }

        // Within the 128 characters a label value may hold: the guest's UDP and TCP ports are its defaults (7007, 7008).
        var append = string.Create(CultureInfo.InvariantCulture,
            $"console=ttyS0 quiet panic=-1 omig.ip={VmIp}/24 omig.gw={LabConventions.DefaultVmGateway} omig.disk=/dev/vda omig.diskhz=50");
        var labels = ImmutableDictionary<string, string>.Empty
            .Add(QemuVmSpecs.KernelLabel, Path.Combine(_options.GuestDirectory, "vmlinuz"))
            .Add(QemuVmSpecs.InitrdLabel, Path.Combine(_options.GuestDirectory, "initrd.img"))
            .Add(QemuVmSpecs.AppendLabel, append);
        clock.Restart();
        await Client.CreateVmAsync(new VmSpec(VmId, 1, GuestMiB, [], "standard", labels, [new DiskSpec(DiskId, 1)], [new NicSpec(VpcId, VmIp, VmMac)], [], boot), "h1");
        var (waited, _) = await UdpEchoProbe.WaitForEchoAsync(Lab.ClientNamespace, UdpTarget, TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(200), ct);
        var kvm = await Client.QmpAsync(VmId, """{"execute":"query-kvm"}""");
        Accelerator = JsonDocument.Parse(kvm).RootElement.TryGetProperty("enabled", out var enabled) && enabled.GetBoolean() ? "kvm" : "tcg";
        _log($"VM {VmId} ({GuestMiB} MiB Linux guest, NIC {VmIp}, disk {DiskId} over NBD) answers echoes {clock.Elapsed.TotalSeconds:0.0} s after create ({waited.TotalSeconds:0.0} s of waiting); accelerator {Accelerator}");
    }

    /// <summary>
    /// Sends UDP echoes and holds TCP streams for the window, migrates the VM to the other host in <paramref name="mode"/> 3 s
    /// in, and reads what the traffic and the disk saw. With <paramref name="killDestination"/> the destination's QEMU is
    /// SIGKILLed once the migration has started copying (the migration must then roll back).
    /// </summary>
    public Task<LabRunResult> MigrateUnderTrafficAsync(OrchestrationMode mode, bool killDestination = false, CancellationToken ct = default) =>
        MigrateUnderTrafficAsync(mode, killDestination ? LabDestinationFault.KillQemu : LabDestinationFault.None, ct);

    /// <summary>As above, with <paramref name="fault"/> done to the destination once the migration has started copying:
    /// its QEMU killed, or the whole host (its silo, with the QEMUs it started) killed.</summary>
    public async Task<LabRunResult> MigrateUnderTrafficAsync(OrchestrationMode mode, LabDestinationFault fault, CancellationToken ct = default)
    {
        var killDestination = fault != LabDestinationFault.None;
        var from = At;
        var to = At == "h1" ? "h2" : "h1";
        var window = TimeSpan.FromSeconds(_options.WindowSeconds);
        var udp = UdpEchoProbe.RunAsync(new UdpEchoProbeOptions
        {
            Namespace = Lab.ClientNamespace, Target = UdpTarget, RatePerSecond = _options.UdpRate, Count = _options.UdpRate * _options.WindowSeconds,
        }, ct);
        var tcp = TcpStreamProbe.RunAsync(new TcpStreamProbeOptions
        {
            Namespace = Lab.ClientNamespace, Target = new IPEndPoint(IPAddress.Parse(VmIp), LabConventions.GuestTcpStreamPort),
            Connections = _options.TcpStreams, Duration = window,
        }, ct);
        await Task.Delay(TimeSpan.FromSeconds(3), ct);
        var begun = DateTimeOffset.UtcNow;
        var status = await Client.MigrateAsync(new MigrationRequest(VmId, to, null, mode, MigrationPriority.User, "bench:lab"));
        var killed = false;
        var limit = Stopwatch.StartNew();
        while (!status.IsEnded && limit.Elapsed < TimeSpan.FromMinutes(5))
        {
            await Task.Delay(killDestination ? 20 : 200, ct);
            try
            {
                status = await Client.GetMigrationAsync(status.MigrationId);
            }
            catch (Exception ex) when (ex is OrleansException or TimeoutException)
            {
                // The client also holds a gateway on each host silo: once one is killed, a read routed through it fails
                // until the client drops that gateway. Read again (bounded by the loop's limit).
                continue;
            }

            if (killDestination && !killed && status.Phase == MigrationPhase.PreCopy)
            {
                if (fault == LabDestinationFault.KillHost)
                {
                    var silo = _silos.Single(s => s.Name == $"host-{to}");
                    silo.Kill();
                    killed = silo.Killed;
                }
                else
                {
                    killed = KillQemus(Path.Combine(_runtime, to)) > 0;
                }
            }
        }

        var echoes = await udp;
        var streams = await tcp;
        DiskRecordCheck disk;
        await using (var file = new FileStream(DiskImage, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            disk = DiskRecordLog.Check(file, echoes.LastDurableSeq);
        }

        if (status.Phase == MigrationPhase.Completed)
        {
            At = to;
        }

        var fences = await FencesSinceAsync(begun);
        var lost = (int)Math.Max(0, disk.LostCount - _seenLost);
        var duplicated = Math.Max(0, disk.Duplicated.Count - _seenDuplicated);
        _seenLost += lost;
        _seenDuplicated += duplicated;
        return new LabRunResult(status.MigrationId, from, to, Naming.EnumNames.Of(status.Phase), status.Failure, status.Downtime?.DowntimeMs, status.Hypervisor?.DowntimeMs,
            Math.Round(echoes.LongestGap.TotalMilliseconds, 1), echoes.Sent, echoes.LostCount, streams.SurvivedCount,
            [.. streams.Streams.Where(s => !s.Survived).Select(s => s.Error ?? (s.SeqGap is { } g ? $"sequence gap {g.Expected}->{g.Received}" : "not receiving at the end"))],
            status.Downtime?.SessionDeltaEntries, echoes.LastDurableSeq, lost, duplicated, disk.CrcFailures.Count,
            status.Downtime?.Steps.ToDictionary(p => p.Key, p => Math.Round(p.Value, 3), StringComparer.Ordinal) ?? new Dictionary<string, double>())
        {
            DestinationKilled = killed,
            Fences = fences,
            LostEchoes = Ranges(echoes.Lost),
            GuestGapAfterSeq = echoes.LongestGapAfterSeq,
            Timeline = [.. (status.Downtime?.Timeline ?? []).Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Step} @{t.Host} {t.StartMs:0.0}-{t.EndMs:0.0}"))],
            QemuPasses = status.Hypervisor?.DirtySyncCount,
            QemuTotalMs = status.Hypervisor?.TotalMs,
            PausedByControlPlane = status.Downtime?.Timeline is { IsDefaultOrEmpty: false } timeline ? timeline.Any(t => t.Step == "stop sent") : null,
            RelayOnAtSourceMs = status.Downtime?.Timeline is { IsDefaultOrEmpty: false } marks
                ? marks.FirstOrDefault(t => t.Step.EndsWith(" on at the source", StringComparison.Ordinal))?.StartMs
                : null,
        };
    }

    /// <summary>Sorted seqs as ranges: <c>1-3, 7</c>.</summary>
    public static string Ranges(IReadOnlyList<long> seqs)
    {
        var parts = new List<string>();
        for (var i = 0; i < seqs.Count;)
        {
            var j = i;
            while (j + 1 < seqs.Count && seqs[j + 1] == seqs[j] + 1)
                j++;
            parts.Add(i == j ? seqs[i].ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{seqs[i]}-{seqs[j]}"));
            i = j + 1;
        }

        return string.Join(", ", parts);
    }

    /// <summary>The disk's fences that began since <paramref name="since"/>, as the block store measured them, once each has
    /// ended (the fenced holder closed or handed the disk back) or after 15 s (then counted so far).</summary>
    private async Task<IReadOnlyList<DiskFenceAudit>> FencesSinceAsync(DateTimeOffset since)
    {
        var limit = Stopwatch.StartNew();
        while (true)
        {
            var audits = (await CallAsync(() => Client.Grains.GetGrain<ICloudDiskGrain>(DiskId).FenceAuditsAsync())).Where(a => a.FencedAt >= since).ToList();
            if (audits.All(a => a.EndedAt is not null) || limit.Elapsed > TimeSpan.FromSeconds(15))
            {
                return audits;
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Deletes the VM through the cluster (its disk, flows and taps go with it).</summary>
    public Task DeleteVmAsync() => CallAsync(async () =>
    {
        await Client.DeleteVmAsync(VmId);
        return true;
    });

    /// <summary>A client call, tried again for up to 30 s while it fails on a gateway that went away (a killed host silo's).</summary>
    public async Task<T> CallAsync<T>(Func<Task<T>> call)
    {
        var limit = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await call();
            }
            catch (Exception ex) when (ex is OrleansException or TimeoutException && limit.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>The last lines of every silo and of every guest console the host silos wrote, for a failure report.</summary>
    public void LogSilos()
    {
        foreach (var s in _silos.Where(s => s.Pid != 0))
        {
            _log($"--- last output of silo {s.Name} (pid {s.Pid}{(s.HasExited ? ", EXITED" : "")}):\n{s.Tail}");
        }

        if (!System.IO.Directory.Exists(_runtime))
        {
            return;
        }

        foreach (var console in System.IO.Directory.EnumerateFiles(_runtime, "*.console.log", SearchOption.AllDirectories))
        {
            try
            {
                using var reader = new StreamReader(new FileStream(console, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
                var lines = reader.ReadToEnd().Split('\n');
                _log($"--- last lines of guest console {Path.GetRelativePath(_runtime, console)}:\n{string.Join('\n', lines.TakeLast(120))}");
            }
            catch (IOException ex)
            {
                _log($"--- guest console {console}: not readable ({ex.Message})");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Client is not null)
        {
            await Client.DisposeAsync();
        }

        if (Environment.GetEnvironmentVariable("OMIG_LAB_KEEP") == "1")
        {
            // For a look at a failure: everything stays up; omig lab down --prefix P --dir DIR/lab and kill the silos by PID.
            _log($"OMIG_LAB_KEEP=1: lab '{_options.Prefix}' and silos {string.Join(", ", _silos.Select(s => s.Pid))} left running");
            return;
        }

        foreach (var s in _silos)
        {
            s.Dispose();
        }

        KillQemus(_runtime);
        await Lab.DownAsync(CancellationToken.None);
        LabStorage.Delete(_labOptions);

        // What this cluster made under the directory, not the directory's other contents (it may be the caller's).
        foreach (var made in new[] { _runtime, Path.Combine(_options.Directory, "images"), _labOptions.StateDirectory }.Where(System.IO.Directory.Exists))
        {
            System.IO.Directory.Delete(made, recursive: true);
        }

        if (System.IO.Directory.Exists(_options.Directory) && !System.IO.Directory.EnumerateFileSystemEntries(_options.Directory).Any())
        {
            System.IO.Directory.Delete(_options.Directory);
        }
    }

    /// <summary>SIGKILLs every QEMU whose command line names <paramref name="runtime"/> (the ones this cluster's host silos
    /// started there); returns how many.</summary>
    private static int KillQemus(string runtime)
    {
        var killed = 0;
        foreach (var dir in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmdline.Contains("qemu-system", StringComparison.Ordinal) && cmdline.Contains(runtime + "/", StringComparison.Ordinal))
                {
                    using var p = Process.GetProcessById(pid);
                    p.Kill();
                    killed++;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
            {
                // Gone meanwhile.
            }
        }

        return killed;
    }
}
