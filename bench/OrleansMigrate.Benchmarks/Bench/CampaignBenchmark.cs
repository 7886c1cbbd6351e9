using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Cli.Demo;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Grains.Operations;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Cli.Bench;

/// <summary>What <c>omig bench campaign</c> runs.</summary>
/// <param name="Driver">Hypervisor driver of the hosts: <c>analytic</c> (memory modelled, no bytes, accelerated time) for
/// fleets of thousands, or <c>simulated</c> (byte-real guests) for small ones.</param>
/// <param name="TimeAcceleration">Modelled time runs this many times faster (analytic driver, cloud latencies, upgrades).</param>
/// <param name="MixedFleet">5 % of the VMs are of the <c>passthrough</c> class (never live-migrated): the campaign's drains move
/// them cold inside their class's maintenance window, which the bench opens for the run (see
/// <see cref="CampaignBenchmarkResult.ColdWindowUtc"/>).</param>
public sealed record CampaignBenchmarkOptions(
    int Hosts,
    int VmsPerHost,
    int Batch,
    int MaxParallelMigrations,
    double TimeAcceleration,
    string Driver,
    int CreateConcurrency,
    bool Defrag = true,
    bool Preflight = true,
    bool AllowDoubleMoves = false,
    bool MixedFleet = false);

/// <summary>
/// A rolling firmware upgrade of a whole simulated fleet through the unchanged control plane (embedded cluster; the
/// same fleet, drain, campaign, scheduler and migration grains and policies as production): every host drained,
/// upgraded, verified and uncordoned. Reports migrations per second of wall time, VMs lost, the invariant audit
/// afterwards and the process's peak memory.
/// </summary>
public sealed class CampaignBenchmark(CampaignBenchmarkOptions options, Action<string> log)
{
    public async Task<CampaignBenchmarkResult> RunAsync(CancellationToken ct)
    {
        var a = options.TimeAcceleration;
        await using var cluster = await EmbeddedCluster.StartAsync(0, ct, minimumLevel: Microsoft.Extensions.Logging.LogLevel.Error, configure: silo =>
        {
            silo.Services.PostConfigure<HostRuntimeOptions>(o =>
            {
                o.Driver = Enum.Parse<HypervisorKind>(options.Driver, ignoreCase: true);
                o.SimulatedGuestMiB = 8;
                o.VerifyConsistency = options.Driver != "analytic";
                o.TimeAcceleration = a;
            });
            silo.Services.AddSingleton(CloudBackendOptions.Scaled(1 / a));
            // A firmware upgrade with its reboot modelled as two minutes.
            silo.Services.AddSingleton(new MaintenanceOptions { SimulatedUpgradeMs = UpgradeMs(a) });
            if (options.MixedFleet)
            {
                // The pass-through class moves cold only inside its maintenance window: one open for the whole run.
                silo.Services.PostConfigure<MigrationPolicyOptions>(o => o.Policies["passthrough"] = o.Policies["passthrough"] with { MaintenanceWindowUtc = ColdWindow });
            }

            silo.Services.Configure<MigrationAdmissionOptions>(o =>
            {
                o.MaxPerCluster = Math.Max(o.MaxPerCluster, options.MaxParallelMigrations);
                o.MaxOutboundPerHost = 8;
                o.MaxInboundPerHost = 4;
            });
        });
        var client = cluster.Client;
        var heapEmpty = SettledHeap();
        var clock = Stopwatch.StartNew();
        await AddHostsAsync(client, options.Hosts, gpuHosts: options.MixedFleet);

        clock.Stop();
        var hostsS = clock.Elapsed.TotalSeconds;
        var heapHosts = SettledHeap();
        clock.Start();

        var total = options.Hosts * options.VmsPerHost;
        await CreateVmsAsync(client, options, ct);
        var setupS = clock.Elapsed.TotalSeconds;
        var heapVms = SettledHeap();
        var bytesPerHost = Math.Round((double)(heapHosts - heapEmpty) / options.Hosts, 0);
        var bytesPerVm = Math.Round((double)(heapVms - heapHosts) / total, 0);
        log($"fleet: {options.Hosts} hosts, {total} VMs ({options.Driver} driver) in {setupS:0.0} s (hosts {hostsS:0.0} s); "
            + $"managed heap {bytesPerHost:0} bytes per host, {bytesPerVm:0} per VM");

        clock.Restart();
        var campaign = await client.StartCampaignAsync(Spec(options), "camp-bench");
        var lastLog = TimeSpan.Zero;
        var pollTimeouts = 0;
        while (!campaign.IsEnded && campaign.State != CampaignState.Paused)
        {
            await Task.Delay(500, ct);
            try
            {
                campaign = await client.GetCampaignAsync(campaign.CampaignId);
            }
            catch (TimeoutException) when (++pollTimeouts <= MaxPollTimeouts)
            {
                // A progress read queued behind a long campaign pass on a loaded machine: read again, the campaign runs on.
                log($"{clock.Elapsed.TotalSeconds,5:0} s: reading the campaign's progress timed out ({pollTimeouts} of at most {MaxPollTimeouts}); reading again");
                continue;
            }

            if (clock.Elapsed - lastLog > TimeSpan.FromSeconds(5))
            {
                lastLog = clock.Elapsed;
                log($"{clock.Elapsed.TotalSeconds,5:0} s: {campaign.HostsUpgraded}/{campaign.Hosts.Length} hosts upgraded, {campaign.VmsMoved} migrations, "
                    + $"{campaign.VmsMoved / clock.Elapsed.TotalSeconds:0} /s, {campaign.HostsFailed} failed");
            }
        }

        var wallS = clock.Elapsed.TotalSeconds;
        log($"campaign {Naming.EnumNames.Of(campaign.State)} in {wallS:0.0} s: {campaign.Note}");

        // Where a migration's wall time goes: the last few hundred the scheduler remembers.
        var recent = (await client.ListMigrationsAsync(includeEnded: true)).Where(m => m.Phase == MigrationPhase.Completed).ToList();
        var phaseMs = recent.SelectMany(m => m.Timeline).Where(t => t.EndedAt is not null && t.Phase != MigrationPhase.Completed)
            .GroupBy(t => t.Phase)
            .ToImmutableSortedDictionary(g => Naming.EnumNames.Of(g.Key), g => Math.Round(Hypervisor.Bench.Percentiles.Of([.. g.Select(t => (t.EndedAt!.Value - t.StartedAt).TotalMilliseconds)], 50), 1), StringComparer.Ordinal);
        var migrationMs = recent.Count == 0 ? 0 : Math.Round(Hypervisor.Bench.Percentiles.Of([.. recent.Select(m => m.TotalMs ?? 0)], 50), 1);
        log($"last {recent.Count} migrations: median {migrationMs} ms wall; per phase {string.Join(", ", phaseMs.Select(p => $"{p.Key} {p.Value}"))}");

        // The cold moves: each pass-through VM's migration, as the drain of its host recorded it.
        var cold = new List<MigrationStatus>();
        if (options.MixedFleet)
        {
            foreach (var host in campaign.Hosts)
            {
                var drain = await client.GetDrainAsync(host.HostId);
                foreach (var v in drain.Vms.Where(v => IsPassthrough(v.VmId, options) && v.MigrationId is not null))
                {
                    cold.Add(await client.GetMigrationAsync(v.MigrationId!));
                }
            }
        }

        var coldDowntimes = cold.Where(m => m.Phase == MigrationPhase.Completed && m.Cold?.DowntimeMs is not null).Select(m => m.Cold!.DowntimeMs!.Value).ToArray();
        if (options.MixedFleet)
        {
            log($"cold moves: {coldDowntimes.Length} completed of {options.Hosts * options.VmsPerHost / 20} pass-through VMs ({cold.Count(m => !m.Request.Cold)} moved live); "
                + $"downtime p50 {(coldDowntimes.Length == 0 ? 0 : Hypervisor.Bench.Percentiles.Of(coldDowntimes, 50)):0.0} ms, p99 {(coldDowntimes.Length == 0 ? 0 : Hypervisor.Bench.Percentiles.Of(coldDowntimes, 99)):0.0} ms");
        }

        var vms = await client.ListVmsAsync();
        var lost = total - vms.Count(v => v.Power == PowerState.Running);
        var audit = await FleetAuditor.AuditAsync(client, TimeSpan.FromMinutes(10), ct);
        foreach (var f in audit.Findings.Take(20))
        {
            log($"AUDIT {f.Invariant} {f.Subject}: {f.Detail}");
        }

        using var self = Process.GetCurrentProcess();
        self.Refresh();
        var peakMb = Math.Round(self.PeakWorkingSet64 / (1024.0 * 1024.0), 0);
        await cluster.DisposeAsync();

        // The defrag part plans on its own synthetic fleet of 5,000 hosts / 100,000 VMs (the planner the defrag grain runs).
        Planning.DefragBenchmarkResult? defrag = null;
        if (options.Defrag)
        {
            var runs = Enumerable.Range(0, 3).Select(_ => Planning.DefragBenchmark.Run(5000, 100_000, 42)).OrderBy(r => r.PlanS).ToList();
            defrag = runs[1] with { PlanS = Math.Round(runs[1].PlanS, 3) };
            log($"defrag: 5000 hosts / 100000 VMs, plan {defrag.PlanS:0.00} s (median of 3), {defrag.Moves} moves, lower bound {defrag.LowerBound}");
        }

        // The preflight part predicts, then measures, migrations of byte-real simulated guests.
        Hypervisor.Bench.PreflightSummary? preflight = null;
        if (options.Preflight)
        {
            preflight = (await Hypervisor.Bench.PreflightBenchmark.RunAsync(24, log: line => log("preflight: " + line), cancellationToken: ct)).Preflight;
            log($"preflight: {preflight.Runs} runs, downtime error p50 {preflight.DowntimeErrorP50:0.000}, total time error p50 {preflight.TotalTimeErrorP50:0.000}");
        }

        return new CampaignBenchmarkResult(
            options.Hosts,
            total,
            campaign.HostsUpgraded,
            lost,
            audit.Findings.Length,
            campaign.MigrationsCompleted + campaign.MigrationsRolledBack + campaign.MigrationsFailed,
            Math.Round(campaign.MigrationsCompleted / wallS, 1),
            Math.Round(wallS, 2),
            peakMb,
            defrag is null ? null : new DefragPart(defrag.Hosts, defrag.Vms, defrag.PlanS, defrag.Moves, defrag.LowerBound, defrag.Count, defrag.Reached),
            preflight is null ? null : new PreflightPart(preflight.Runs, Math.Round(preflight.DowntimeErrorP50, 4), Math.Round(preflight.TotalTimeErrorP50, 4)),
            campaign.MigrationsCompleted,
            campaign.MigrationsRolledBack,
            campaign.MigrationsFailed,
            campaign.HostsFailed,
            [.. campaign.Unmovable.Take(50)],
            options.Driver,
            options.TimeAcceleration,
            options.Batch,
            options.MaxParallelMigrations,
            Math.Round(setupS, 1),
            Math.Round((double)campaign.MigrationsCompleted / Math.Max(1, total), 3),
            options.AllowDoubleMoves,
            migrationMs,
            phaseMs,
            UpgradeMs(a),
            Math.Round(hostsS, 1),
            bytesPerHost,
            bytesPerVm)
        {
            MixedFleet = options.MixedFleet,
            PassthroughVms = options.MixedFleet ? Enumerable.Range(0, total).Count(i => IsPassthrough(i)) : 0,
            GpuHosts = options.MixedFleet ? Enumerable.Range(0, options.Hosts).Count(IsGpuHost) : 0,
            ColdMoves = options.MixedFleet ? coldDowntimes.Length : null,
            PassthroughVmsMovedCold = options.MixedFleet
                ? cold.Where(m => m.Phase == MigrationPhase.Completed && m.Request.Cold).Select(m => m.Request.VmId).Distinct(StringComparer.Ordinal).Count()
                : null,
            PassthroughVmsMovedLive = options.MixedFleet ? cold.Count(m => m.Phase == MigrationPhase.Completed && !m.Request.Cold) : null,
            ColdDowntimeMsP50 = coldDowntimes.Length == 0 ? null : Math.Round(Hypervisor.Bench.Percentiles.Of(coldDowntimes, 50), 1),
            ColdDowntimeMsP99 = coldDowntimes.Length == 0 ? null : Math.Round(Hypervisor.Bench.Percentiles.Of(coldDowntimes, 99), 1),
            ColdWindowUtc = options.MixedFleet ? ColdWindow : null,
        };
    }

    /// <summary>The pass-through class's maintenance window in a mixed-fleet run: opened an hour before the run, for six hours.</summary>
    private static readonly string ColdWindow = $"{DateTimeOffset.UtcNow.AddHours(-1):HH:mm}-{DateTimeOffset.UtcNow.AddHours(5):HH:mm}";

    /// <summary>Whether VM number <paramref name="i"/> of a mixed fleet is of the pass-through class: one in 20 (5 %).</summary>
    private static bool IsPassthrough(int i) => i % 20 == 7;

    private static bool IsPassthrough(string vmId, CampaignBenchmarkOptions options) =>
        options.MixedFleet && vmId.StartsWith("v-", StringComparison.Ordinal) && int.TryParse(vmId.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out var i) && IsPassthrough(i);

    /// <summary>The bench's hosts: <c>h-0000</c> … (64 vCPUs, 256 GiB, firmware 1.0.0), 40 to a rack. With
    /// <paramref name="gpuHosts"/> (a mixed fleet), one host in ten also offers <see cref="HostGpus"/>.</summary>
    internal static async Task AddHostsAsync(OmigClient client, int hosts, bool gpuHosts = false)
    {
        for (var h = 0; h < hosts; h++)
        {
            await client.AddHostAsync(new HostSpec(HostId(h), 64, 256 * 1024, "Xeon Platinum 8480", ["sse4_2", "avx", "avx2", "avx512f"], 4, "1.0.0", "6.1.0", "7.2.0",
                ImmutableDictionary<string, string>.Empty.Add("rack", $"r{h / 40:000}")) { Devices = gpuHosts && IsGpuHost(h) ? [HostGpus] : [] });
        }
    }

    /// <summary>A GPU host's pass-through GPUs in a mixed fleet. The pass-through VMs (one in 20, round-robin) all land on the
    /// hosts numbered 7 mod 20 (20 each with 20 VMs per host), so a GPU host needs at least that many; the others of the 10 %
    /// (7 mod 10) give a drained GPU host's VMs somewhere to go cold.</summary>
    private static readonly DeviceCount HostGpus = new(DeviceKind.Gpu, "A10", 24);

    /// <summary>One host in ten (10 %) has GPUs in a mixed fleet; every pass-through VM is placed on one.</summary>
    internal static bool IsGpuHost(int h) => h % 10 == 7;

    internal static string HostId(int h) => $"h-{h:0000}";

    /// <summary>The bench's VMs, <see cref="CampaignBenchmarkOptions.VmsPerHost"/> per host.</summary>
    internal static async Task CreateVmsAsync(OmigClient client, CampaignBenchmarkOptions options, CancellationToken ct)
    {
        // VMs round-robin over the hosts, created a few at a time; 2 vCPUs / 8 GiB each (20 per host use 62 % of a host).
        var total = options.Hosts * options.VmsPerHost;
        var next = -1;
        async Task CreateAsync()
        {
            while (Interlocked.Increment(ref next) is var i && i < total)
            {
                var id = $"v-{i:000000}";
                var ip = string.Create(CultureInfo.InvariantCulture, $"10.{(i / 62500) % 256}.{(i / 250) % 250}.{(i % 250) + 2}");
                var labels = ImmutableDictionary<string, string>.Empty.Add(SimulatedVmSpecs.DirtyLabel, (i % 5) switch { 0 => "50", 1 => "5", _ => "20" });
                if (i % 10 == 0)
                {
                    labels = labels.Add(DestinationSelector.AntiAffinityLabel, $"aa-{i / 30}");
                }

                // A mixed fleet: 5 % pass-through-class VMs, each with a pass-through GPU, on the 10 % of hosts that have GPUs;
                // they never move live, so the campaign's drains move them cold, to another GPU host with a GPU free.
                var passthrough = options.MixedFleet && IsPassthrough(i);
                var spec = new VmSpec(id, 2, 8192, [], passthrough ? "passthrough" : "standard", labels, [new DiskSpec(id + "-root", 40)],
                    [new NicSpec($"vpc-{i % 100:000}", ip, Client.Parsing.CliParsers.DeriveMac(id, ip))], [])
                {
                    Devices = passthrough ? [new DeviceCount(DeviceKind.Gpu, "A10", 1)] : [],
                };
                await client.CreateVmAsync(spec, $"h-{i % options.Hosts:0000}");
            }
        }

        await Task.WhenAll(Enumerable.Range(0, options.CreateConcurrency).Select(_ => Task.Run(CreateAsync, ct)));
    }

    /// <summary>The campaign the bench runs: firmware 2.0.0 on every host.</summary>
    internal static CampaignSpec Spec(CampaignBenchmarkOptions options) =>
        new("2.0.0", Batch: options.Batch, MaxParallelMigrations: options.MaxParallelMigrations,
            FailureBudget: Math.Max(1, options.Hosts / 10), RequestedBy: "bench-campaign", AllowDoubleMoves: options.AllowDoubleMoves);

    /// <summary>A firmware upgrade with its reboot modelled as two minutes, in wall time.</summary>
    internal static int SimulatedUpgradeMs(double acceleration) => UpgradeMs(acceleration);

    /// <summary>Progress reads that may time out (each after the client's response timeout) before the run gives up.</summary>
    private const int MaxPollTimeouts = 10;

    private static int UpgradeMs(double acceleration) => (int)Math.Round(120_000 / acceleration);

    /// <summary>The managed heap after a full, compacting collection: what the fleet built so far keeps alive (every
    /// grain of the embedded cluster lives in this process).</summary>
    private static long SettledHeap()
    {
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}

/// <summary>The JSON of <c>omig bench campaign</c> (the issue's fields first; <c>defrag</c> and <c>preflight</c> filled when run).
/// <c>migrations_per_vm</c>: completed migrations per VM of the fleet; 1.0 means every VM moved exactly once.
/// <c>migration_wall_ms_p50</c> and <c>phase_wall_ms_p50</c>: wall time of the last completed migrations the scheduler
/// remembers (up to 500), whole and per phase. <c>simulated_upgrade_ms</c>: wall time of one host's simulated upgrade
/// (two minutes modelled). <c>hosts_setup_s</c>: the part of <c>setup_s</c> spent registering hosts.
/// <c>mem_bytes_per_host</c> / <c>mem_bytes_per_vm</c>: growth of the settled managed heap (after a full collection)
/// while registering the hosts, then creating the VMs, divided by their numbers — every grain of the embedded cluster
/// lives in this process, so this is what the control plane keeps per host and per VM.</summary>
public sealed record CampaignBenchmarkResult(
    int Hosts,
    int Vms,
    int HostsUpgraded,
    int VmsLost,
    int InvariantViolations,
    int Migrations,
    double MigrationsPerS,
    double WallS,
    double PeakMemMb,
    DefragPart? Defrag,
    PreflightPart? Preflight,
    int MigrationsCompleted,
    int MigrationsRolledBack,
    int MigrationsFailed,
    int HostsFailed,
    ImmutableArray<string> Unmovable,
    string Driver,
    double TimeAcceleration,
    int Batch,
    int MaxParallelMigrations,
    double SetupS,
    double MigrationsPerVm,
    bool AllowDoubleMoves,
    double MigrationWallMsP50,
    ImmutableSortedDictionary<string, double> PhaseWallMsP50,
    int SimulatedUpgradeMs,
    double HostsSetupS,
    double MemBytesPerHost,
    double MemBytesPerVm)
{
    /// <summary>Run with <c>--mixed-fleet</c>: 5 % of the VMs are of the pass-through class.</summary>
    public bool MixedFleet { get; init; }

    /// <summary>VMs of the pass-through class in a mixed fleet (never live-migrated), each with a pass-through GPU.</summary>
    public int PassthroughVms { get; init; }

    /// <summary>Hosts that offer GPUs in a mixed fleet (10 %).</summary>
    public int GpuHosts { get; init; }

    /// <summary>Cold moves completed by the campaign's drains (null without <c>--mixed-fleet</c>).</summary>
    public int? ColdMoves { get; init; }

    /// <summary>Pass-through VMs the campaign moved cold at least once. A GPU VM can only go to another GPU host, and one
    /// moved to a GPU host not yet upgraded moves again when that host's turn comes: so <see cref="ColdMoves"/> may exceed it.</summary>
    public int? PassthroughVmsMovedCold { get; init; }

    /// <summary>Pass-through VMs moved live (must be 0: they never migrate live).</summary>
    public int? PassthroughVmsMovedLive { get; init; }

    /// <summary>Downtime of those cold moves (stopped on the source → running on the destination, wall time), ms.</summary>
    public double? ColdDowntimeMsP50 { get; init; }

    public double? ColdDowntimeMsP99 { get; init; }

    /// <summary>The pass-through class's maintenance window the run opened (UTC).</summary>
    public string? ColdWindowUtc { get; init; }
}

/// <summary>The defrag part: planning time and moves for the count, against the lower bound.</summary>
public sealed record DefragPart(int Hosts, int Vms, double PlanS, int Moves, int? LowerBound, int Count, bool Reached);

/// <summary>The preflight part: median relative errors of predicted against measured downtime and total time.</summary>
public sealed record PreflightPart(int Runs, double DowntimeErrorP50, double TotalTimeErrorP50);
