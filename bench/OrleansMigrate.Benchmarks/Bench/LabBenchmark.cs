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

    /// <summary>auto, kvm or tcg.</summary>
    public string Accelerator { get; init; } = "auto";
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
    int? DiskWritesAfterFence,
    string DiskWritesAfterFenceNote,
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
    IReadOnlyDictionary<string, double> StepsMs);

public sealed record LabBenchResult(
    int Runs,
    string Accelerator,
    string Date,
    int GuestMiB,
    int WindowSeconds,
    int UdpRatePerSecond,
    IReadOnlyList<LabModeResult> Modes);

/// <summary>
/// <c>omig bench lab</c>: the Linux guest on real Linux parts, migrated by a real cluster. It brings up a lab of its own
/// (two host namespaces, the storage namespace with <c>qemu-storage-daemon</c>, the client namespace that is the VPC's
/// gateway), starts a control silo in the root namespace (the <c>linux</c> network manager and the <c>nbd</c> block store)
/// and one host silo inside each host's namespace (QEMU, taps, conntrack sessions), all on PostgreSQL; registers the hosts
/// and one VM — the Linux guest with a NIC in the VPC and a cloud disk — and boots it on h1. Then, per run and mode, it
/// sends UDP echoes at the given rate and holds TCP streams from the client namespace, migrates the VM to the other host
/// in that mode, and records the echo gap the client saw, the echoes lost, the streams that survived, QEMU's downtime, the
/// switchover's steps, and the disk's records (read from the image: lost, duplicated, corrupt up to the last durable
/// one the guest reported). Everything it made is removed at the end, whatever failed.
/// </summary>
public sealed class LabBenchmark(LabBenchOptions options, Action<string> log)
{
    private const string VmId = "lab-vm1";
    private const string DiskId = "lab-d1";
    private const string VpcId = "vpc1";
    private const string VmIp = "172.30.0.10";
    private const string VmMac = "52:54:00:00:00:10";
    private const int GuestMiB = 128;
    private static readonly TimeSpan SiloStartLimit = TimeSpan.FromSeconds(120);

    private readonly List<SiloChildProcess> _silos = [];

    private LabTopologyOptions LabOptions => new()
    {
        Prefix = options.Prefix,
        Hosts = 2,
        Storage = true,
        Underlay = options.Underlay,
        Transit = options.Transit,
        StateDirectory = Path.Combine(options.Directory, "lab"),
    };

    public async Task<LabBenchResult> RunAsync(CancellationToken ct)
    {
        Check();
        var labOptions = LabOptions;
        var lab = new LabTopology(labOptions);
        await lab.DownAsync(CancellationToken.None);
        LabStorage.Delete(labOptions);
        var runtime = Path.Combine(options.Directory, "qemu");
        OwnedQemus.Kill(runtime);
        var images = System.IO.Directory.CreateDirectory(Path.Combine(options.Directory, "images")).FullName;
        var boot = Path.Combine(images, "boot.img");
        await File.WriteAllBytesAsync(boot, new byte[512], ct);
        try
        {
            var clock = Stopwatch.StartNew();
            await lab.UpAsync(ct);
            await LabStorage.StartAsync(lab, labOptions, ct);
            log($"lab '{options.Prefix}' up in {clock.ElapsedMilliseconds} ms");
            return await RunClusterAsync(lab, labOptions, runtime, boot, ct);
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            foreach (var s in _silos.Where(s => s.Pid != 0))
            {
                log($"--- last output of silo {s.Name} (pid {s.Pid}{(s.HasExited ? ", EXITED" : "")}):\n{s.Tail}");
            }

            throw;
        }
        finally
        {
            foreach (var s in _silos)
            {
                s.Dispose();
            }

            OwnedQemus.Kill(runtime);
            await lab.DownAsync(CancellationToken.None);
            LabStorage.Delete(labOptions);
        }
    }

    private void Check()
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

    private async Task<LabBenchResult> RunClusterAsync(LabTopology lab, LabTopologyOptions labOptions, string runtime, string boot, CancellationToken ct)
    {
        var clusterId = "lab-" + Guid.NewGuid().ToString("N")[..12];
        string[] common = ["--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:OrleansMigrate=Warning"];
        var control = new SiloChildProcess(options.SiloDll, "control", "control", "", options.ConnectionString, clusterId, [.. common, "--address", lab.RootUnderlayAddress]);
        foreach (var (key, value) in LabStorage.SiloConfiguration(labOptions, storage: true, hostSilo: false))
        {
            control.SetEnvironment(key.Replace(":", "__", StringComparison.Ordinal), value);
        }

        _silos.Add(control);
        for (var i = 1; i <= 2; i++)
        {
            var silo = new SiloChildProcess(options.SiloDll, $"host-h{i}", "host", $"h{i}", options.ConnectionString, clusterId,
                [.. common, "--address", lab.HostUnderlayAddress(i), "--driver", "qemu", "--accel", options.Accelerator,
                    "--qemu-image-dir", options.GuestDirectory, "--Omig:Qemu:ImageDirectories:1=" + Path.GetDirectoryName(boot), "--qemu-runtime-dir", Path.Combine(runtime, $"h{i}")],
                lab.HostNamespace(i));
            foreach (var (key, value) in LabStorage.SiloConfiguration(labOptions, storage: true, hostSilo: true))
            {
                silo.SetEnvironment(key.Replace(":", "__", StringComparison.Ordinal), value);
            }

            _silos.Add(silo);
        }

        var clock = Stopwatch.StartNew();
        await control.StartAsync(SiloStartLimit, ct);
        await Task.WhenAll(_silos.Skip(1).Select(s => s.StartAsync(SiloStartLimit, ct)));
        log($"cluster {clusterId}: control in the root namespace, h1 and h2 in theirs; up in {clock.Elapsed.TotalSeconds:0.0} s");

        await using var client = await OmigClient.ConnectAsync(new OmigClientOptions
        {
            PostgresConnectionString = options.ConnectionString, ClusterId = clusterId, ServiceId = clusterId, ConnectTimeout = TimeSpan.FromSeconds(60),
        }, ct);
        foreach (var h in new[] { "h1", "h2" })
        {
            await client.AddHostAsync(new HostSpec(h, 8, 16 * 1024, "lab", [], 1, "1.0.0", "6.1.0", "7.2.0", ImmutableDictionary<string, string>.Empty));
        }

        var append = string.Create(CultureInfo.InvariantCulture,
            $"console=ttyS0 quiet panic=-1 omig.ip={VmIp}/24 omig.gw={LabConventions.DefaultVmGateway} omig.disk=/dev/vda omig.diskhz=50");
        var labels = ImmutableDictionary<string, string>.Empty
            .Add(QemuVmSpecs.KernelLabel, Path.Combine(options.GuestDirectory, "vmlinuz"))
            .Add(QemuVmSpecs.InitrdLabel, Path.Combine(options.GuestDirectory, "initrd.img"))
            .Add(QemuVmSpecs.AppendLabel, append);
        clock.Restart();
        await client.CreateVmAsync(new VmSpec(VmId, 1, GuestMiB, [], "standard", labels, [new DiskSpec(DiskId, 1)], [new NicSpec(VpcId, VmIp, VmMac)], [], boot), "h1");
        var target = new IPEndPoint(IPAddress.Parse(VmIp), LabConventions.GuestUdpEchoPort);
        var (bootTime, _) = await UdpEchoProbe.WaitForEchoAsync(lab.ClientNamespace, target, TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(200), ct);
        var kvm = await client.QmpAsync(VmId, """{"execute":"query-kvm"}""");
        var accelerator = JsonDocument.Parse(kvm).RootElement.TryGetProperty("enabled", out var enabled) && enabled.GetBoolean() ? "kvm" : "tcg";
        log($"VM {VmId} ({GuestMiB} MiB Linux guest, NIC {VmIp}, disk {DiskId} over NBD) answers echoes {clock.Elapsed.TotalSeconds:0.0} s after create ({bootTime.TotalSeconds:0.0} s of waiting); accelerator {accelerator}");

        var image = Path.Combine(LabStorage.ImageDirectory(labOptions), DiskId + ".raw");
        var runs = options.Modes.ToDictionary(m => m, _ => new List<LabRunResult>());
        var at = "h1";
        var seenLost = 0;
        var seenDuplicated = 0;
        for (var run = 1; run <= options.Runs; run++)
        {
            foreach (var mode in options.Modes)
            {
                var to = at == "h1" ? "h2" : "h1";
                var result = await MigrateUnderTrafficAsync(client, lab, mode, at, to, image, seenLost, seenDuplicated, ct);
                seenLost += result.DiskRecordsLost;
                seenDuplicated += result.DiskRecordsDuplicated;
                runs[mode].Add(result);
                log($"run {run} {ModeName(mode),-15} {result.From}->{result.To} {result.Phase}: guest gap {result.GuestGapMs:0.0} ms, downtime {result.DowntimeMs:0.0} ms (QEMU {result.QemuDowntimeMs:0.0}), "
                    + $"udp lost {result.UdpLost}/{result.UdpSent}, tcp {result.TcpSurvived}/{options.TcpStreams}, disk lost {result.DiskRecordsLost} dup {result.DiskRecordsDuplicated} (durable {result.DurableRecord})"
                    + (result.Failure is null ? "" : $"; failure: {result.Failure}"));
                if (result.Phase == "completed")
                {
                    at = to;
                }
            }
        }

        await client.DeleteVmAsync(VmId);
        return new LabBenchResult(options.Runs, accelerator, DateTimeOffset.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), GuestMiB, options.WindowSeconds, options.UdpRate,
            [.. options.Modes.Select(m => Summarise(m, runs[m]))]);
    }

    private async Task<LabRunResult> MigrateUnderTrafficAsync(OmigClient client, LabTopology lab, OrchestrationMode mode, string from, string to, string image,
        int seenLost, int seenDuplicated, CancellationToken ct)
    {
        var window = TimeSpan.FromSeconds(options.WindowSeconds);
        var udp = UdpEchoProbe.RunAsync(new UdpEchoProbeOptions
        {
            Namespace = lab.ClientNamespace, Target = new IPEndPoint(IPAddress.Parse(VmIp), LabConventions.GuestUdpEchoPort),
            RatePerSecond = options.UdpRate, Count = options.UdpRate * options.WindowSeconds,
        }, ct);
        var tcp = TcpStreamProbe.RunAsync(new TcpStreamProbeOptions
        {
            Namespace = lab.ClientNamespace, Target = new IPEndPoint(IPAddress.Parse(VmIp), LabConventions.GuestTcpStreamPort),
            Connections = options.TcpStreams, Duration = window,
        }, ct);
        await Task.Delay(TimeSpan.FromSeconds(3), ct);
        var status = await client.MigrateAsync(new MigrationRequest(VmId, to, null, mode, MigrationPriority.User, "bench:lab"));
        var limit = Stopwatch.StartNew();
        while (!status.IsEnded && limit.Elapsed < TimeSpan.FromMinutes(5))
        {
            await Task.Delay(200, ct);
            status = await client.GetMigrationAsync(status.MigrationId);
        }

        var echoes = await udp;
        var streams = await tcp;
        DiskRecordCheck disk;
        await using (var file = new FileStream(image, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            disk = DiskRecordLog.Check(file, echoes.LastDurableSeq);
        }

        return new LabRunResult(status.MigrationId, from, to, Naming.EnumNames.Of(status.Phase), status.Failure, status.Downtime?.DowntimeMs, status.Hypervisor?.DowntimeMs,
            Math.Round(echoes.LongestGap.TotalMilliseconds, 1), echoes.Sent, echoes.LostCount, streams.SurvivedCount,
            [.. streams.Streams.Where(s => !s.Survived).Select(s => s.Error ?? (s.SeqGap is { } g ? $"sequence gap {g.Expected}->{g.Received}" : "not receiving at the end"))],
            status.Downtime?.SessionDeltaEntries, echoes.LastDurableSeq,
            (int)Math.Max(0, disk.LostCount - seenLost), Math.Max(0, disk.Duplicated.Count - seenDuplicated), disk.CrcFailures.Count,
            status.Downtime?.Steps.ToDictionary(p => p.Key, p => Math.Round(p.Value, 3), StringComparer.Ordinal) ?? new Dictionary<string, double>());
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
            runs.Sum(r => r.DiskRecordsLost), runs.Sum(r => r.DiskRecordsDuplicated), null,
            "not measured: the storage daemon keeps no per-export write count, and a fenced export no longer exists to count against; a write that landed after a fence would show here as a duplicated or misplaced record",
            steps, runs);
    }

    /// <summary>A mode as the issue and the CLI spell it: <c>no-session-copy</c>.</summary>
    public static string ModeName(OrchestrationMode mode) => Naming.EnumNames.Of(mode).Replace('_', '-');

    private static double? Percentile(IReadOnlyList<double> sorted, double p) =>
        sorted.Count == 0 ? null : Math.Round(sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)], 1);

    /// <summary>QEMUs this bench started: every process whose command line names its runtime directory.</summary>
    private static class OwnedQemus
    {
        public static void Kill(string runtime)
        {
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
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
                {
                    // Gone meanwhile.
                }
            }
        }
    }
}
