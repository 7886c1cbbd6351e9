using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Agents;
using OrleansMigrate.Cli.Demo;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Hypervisor.Bench;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;
using OrleansMigrate.Migration;
using VmSpec = OrleansMigrate.Fleet.VmSpec;

namespace OrleansMigrate.Cli.Bench;

/// <summary>
/// The same simulated fleet and VM mix migrated under <c>serial</c> and <c>parallel</c> orchestration,
/// alternating run by run so machine noise hits both, with realistic (slow) cloud latencies and a packet
/// generator sending to each migrating VM's IP through the VPC flow table every millisecond. The data
/// plane's own downtime for the same guests (no cloud actions) is measured alongside.
/// </summary>
public sealed class OrchestrationBenchmark(int runsPerMode, int guestMiB, int dirtyMbps, Action<string> log)
{
    private const int Hosts = 4;
    private const int VmsPerHost = 2;

    public async Task<OrchestrationBenchmarkResult> RunAsync(CancellationToken ct)
    {
        await using var cluster = await EmbeddedCluster.StartAsync(0, ct, silo =>
            silo.Services.Configure<HostRuntimeOptions>(o => o.SimulatedGuestMiB = guestMiB));
        var client = cluster.Client;
        var runtime = cluster.Services.GetRequiredService<IHostRuntime>();
        // One hardware and firmware generation, so every host can take every VM in both directions.
        foreach (var host in DemoFleet.Hosts(Hosts))
        {
            await client.AddHostAsync(host with { FirmwareVersion = "2.4.0", HardwareGeneration = 4 });
        }

        var vms = new List<VmSpec>();
        for (var i = 0; i < Hosts * VmsPerHost; i++)
        {
            var id = $"bench-{i:00}";
            var ip = $"10.9.{i / 200}.{10 + (i % 200)}";
            var spec = new VmSpec(id, 2, 8192, [], "standard",
                ImmutableDictionary<string, string>.Empty.Add(SimulatedVmSpecs.DirtyLabel, $"{dirtyMbps}"),
                [new DiskSpec(id + "-root", 40)], [new NicSpec("vpc-bench", ip, OrleansMigrate.Client.Parsing.CliParsers.DeriveMac(id, ip))], []);
            await client.CreateVmAsync(spec, $"host-{(i % Hosts) + 1}");
            vms.Add(spec);
        }

        // Two warm-up migrations (one per mode, discarded) so JIT and first activations do not land in the figures.
        var samples = new Dictionary<OrchestrationMode, List<RunSample>> { [OrchestrationMode.Serial] = [], [OrchestrationMode.Parallel] = [] };
        const int WarmUp = 2;
        for (var run = 0; run < (runsPerMode * 2) + WarmUp; run++)
        {
            var mode = run % 2 == 0 ? OrchestrationMode.Parallel : OrchestrationMode.Serial;
            var vm = vms[run % vms.Count];
            var from = (await client.GetVmAsync(vm.VmId)).HostId;
            var to = $"host-{(int.Parse(from["host-".Length..], System.Globalization.CultureInfo.InvariantCulture) % Hosts) + 1}";
            var sample = await MigrateWithTrafficAsync(client, runtime, vm, to, mode, ct);
            if (run < WarmUp)
            {
                log($"{mode,-8} warm-up: {Naming.EnumNames.Of(sample.Phase)} downtime {sample.DowntimeMs:0.0} ms (discarded)");
                continue;
            }

            samples[mode].Add(sample);
            log($"{mode,-8} run {samples[mode].Count,2}/{runsPerMode}: {vm.VmId} {from}→{to} {Naming.EnumNames.Of(sample.Phase)} downtime {sample.DowntimeMs:0.0} ms, total {sample.TotalMs:0} ms, lost {sample.PacketsLost}/{sample.PacketsSent}");
        }

        var dataPlane = await DataPlaneDowntimeAsync(runsPerMode, ct);
        log($"data plane alone: downtime p50 {Percentiles.Of(dataPlane, 50):0.00} ms over {dataPlane.Count} runs");
        return new OrchestrationBenchmarkResult(
            Percentiles.Of(dataPlane, 50),
            [.. samples.OrderByDescending(kv => kv.Key == OrchestrationMode.Parallel).Select(kv => ModeResult(kv.Key, kv.Value))],
            guestMiB,
            dirtyMbps);
    }

    /// <summary>
    /// <paramref name="concurrent"/> VMs migrated at once between the same two hosts, back and forth, round after
    /// round (parallel orchestration, no packet generator): what one host's migrations cost each other's downtime.
    /// </summary>
    public async Task<ConcurrentBenchmarkResult> RunConcurrentAsync(int concurrent, CancellationToken ct)
    {
        await using var cluster = await EmbeddedCluster.StartAsync(0, ct, silo =>
            silo.Services.Configure<HostRuntimeOptions>(o => o.SimulatedGuestMiB = guestMiB));
        var client = cluster.Client;
        foreach (var host in DemoFleet.Hosts(2))
        {
            await client.AddHostAsync(host with { FirmwareVersion = "2.4.0", HardwareGeneration = 4 });
        }

        var vms = new List<VmSpec>();
        for (var i = 0; i < concurrent; i++)
        {
            var id = $"bench-c{i:00}";
            var ip = $"10.8.0.{10 + i}";
            var spec = new VmSpec(id, 2, 8192, [], "standard",
                ImmutableDictionary<string, string>.Empty.Add(SimulatedVmSpecs.DirtyLabel, $"{dirtyMbps}"),
                [new DiskSpec(id + "-root", 40)], [new NicSpec("vpc-bench", ip, OrleansMigrate.Client.Parsing.CliParsers.DeriveMac(id, ip))], []);
            await client.CreateVmAsync(spec, "host-1");
            vms.Add(spec);
        }

        // One warm-up round (discarded); then every round moves all VMs to the other host at once.
        var rounds = new List<ConcurrentRound>();
        var all = new List<double>();
        for (var round = 0; round <= runsPerMode; round++)
        {
            var to = round % 2 == 0 ? "host-2" : "host-1";
            var results = await Task.WhenAll(vms.Select(async vm =>
            {
                var started = await client.MigrateAsync(new MigrationRequest(vm.VmId, to, Mode: OrchestrationMode.Parallel));
                MigrationStatus? last = null;
                await foreach (var status in client.WatchMigrationAsync(started.MigrationId, ct))
                {
                    last = status;
                }

                return last!;
            }));
            var downtimes = results.Where(r => r.Phase == MigrationPhase.Completed).Select(r => r.Downtime?.DowntimeMs ?? double.NaN).ToList();
            var result = new ConcurrentRound(results.Length, downtimes.Count, Percentiles.Of(downtimes, 50), Percentiles.Of(downtimes, 99));
            if (round == 0)
            {
                log($"warm-up round: {result.Completed}/{result.Migrations} completed, downtime p50 {result.DowntimeMsP50:0.0} ms (discarded)");
                continue;
            }

            rounds.Add(result);
            all.AddRange(downtimes);
            log($"round {round,2}/{runsPerMode}: →{to} {result.Completed}/{result.Migrations} completed, downtime p50 {result.DowntimeMsP50:0.0} ms, p99 {result.DowntimeMsP99:0.0} ms");
        }

        return new ConcurrentBenchmarkResult(concurrent, runsPerMode, guestMiB, dirtyMbps,
            Percentiles.Of([.. rounds.Select(r => r.DowntimeMsP50)], 50), Percentiles.Of([.. rounds.Select(r => r.DowntimeMsP99)], 50),
            Percentiles.Of(all, 50), Percentiles.Of(all, 99), rounds);
    }

    private static OrchestrationModeResult ModeResult(OrchestrationMode mode, List<RunSample> runs)
    {
        var done = runs.Where(r => r.Phase == MigrationPhase.Completed).ToList();
        return new OrchestrationModeResult(
            mode.ToString().ToLowerInvariant(),
            runs.Count,
            Percentiles.Of([.. done.Select(r => r.DowntimeMs)], 50),
            Percentiles.Of([.. done.Select(r => r.DowntimeMs)], 99),
            runs.Sum(r => r.PacketsLost),
            runs.Sum(r => r.PacketsSent),
            Percentiles.Of([.. done.Select(r => r.TotalMs)], 50),
            done.Count,
            runs.Count(r => r.Phase == MigrationPhase.RolledBack));
    }

    /// <summary>One migration with a packet every millisecond to the VM's IP: resolved through the flow table
    /// (following an enabled relay), delivered when the host it reaches holds the VM (running, paused for the
    /// switchover, or arriving), lost otherwise.</summary>
    private static async Task<RunSample> MigrateWithTrafficAsync(Client.OmigClient client, IHostRuntime runtime, VmSpec vm, string to, OrchestrationMode mode, CancellationToken ct)
    {
        var nic = vm.Nics[0];
        var table = client.Grains.GetGrain<IVpcFlowTableGrain>(nic.VpcId);
        long sent = 0, lost = 0;
        using var stop = new CancellationTokenSource();
        var generator = new Thread(() =>
        {
            var next = Stopwatch.GetTimestamp();
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var host = table.ResolveAsync(nic.Ip).GetAwaiter().GetResult();
                    var state = host is null ? null : runtime.VmStateAsync(host, vm.VmId).GetAwaiter().GetResult();
                    sent++;
                    if (state is not (HypervisorVmState.Running or HypervisorVmState.Paused or HypervisorVmState.Incoming))
                    {
                        lost++;
                    }
                }
                catch (Exception) when (stop.IsCancellationRequested)
                {
                    return;
                }

                next += Stopwatch.Frequency / 1000;
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                if (wait > TimeSpan.Zero)
                {
                    Thread.Sleep(wait);
                }
            }
        }) { IsBackground = true, Name = "packet-generator" };
        generator.Start();

        MigrationStatus? last = null;
        try
        {
            var started = await client.MigrateAsync(new MigrationRequest(vm.VmId, to, Mode: mode));
            await foreach (var status in client.WatchMigrationAsync(started.MigrationId, ct))
            {
                last = status;
            }
        }
        finally
        {
            stop.Cancel();
            generator.Join();
        }

        return new RunSample(last!.Phase, last.Downtime?.DowntimeMs ?? double.NaN, last.TotalMs ?? double.NaN, sent, lost);
    }

    /// <summary>The same guests migrated driver to driver with no cloud actions in the switchover.</summary>
    private async Task<List<double>> DataPlaneDowntimeAsync(int runs, CancellationToken ct)
    {
        await using var a = new SimulatedHypervisorDriver("dp-a");
        await using var b = new SimulatedHypervisorDriver("dp-b");
        var spec = SimulatedVmSpecs.From(new VmSpec("dp-guest", 2, 8192, [], "standard",
            ImmutableDictionary<string, string>.Empty.Add(SimulatedVmSpecs.DirtyLabel, $"{dirtyMbps}"), [], [], []), new HostRuntimeOptions { SimulatedGuestMiB = guestMiB });
        await a.CreateVmAsync(spec, ct);
        await a.StartVmAsync(spec.VmId, ct);
        var downtimes = new List<double>();
        var (source, target) = ((IHypervisorDriver)a, (IHypervisorDriver)b);
        var tuning = MigrationPolicy.BuiltIn["standard"].Tuning(guestMiB);
        for (var i = 0; i < runs; i++)
        {
            var report = await LiveMigration.RunAsync(source, target, spec.VmId, new MigrationOptions
            {
                DowntimeTargetMs = tuning.DowntimeTargetMs,
                LinkBandwidthBytesPerSecond = tuning.LinkBandwidthBytesPerSecond,
            }, cancellationToken: ct);
            downtimes.Add(report.Downtime.TotalMs);
            await source.DestroyVmAsync(spec.VmId, ct);
            (source, target) = (target, source);
        }

        return downtimes;
    }

    private sealed record RunSample(MigrationPhase Phase, double DowntimeMs, double TotalMs, long PacketsSent, long PacketsLost);
}

public sealed record OrchestrationBenchmarkResult(
    double DataplaneDowntimeMsP50,
    IReadOnlyList<OrchestrationModeResult> Modes,
    int GuestMib,
    int DirtyMbps)
{
    public double SerialOverParallelDowntimeRatio =>
        Modes.First(m => m.Mode == "serial").DowntimeMsP50 / Modes.First(m => m.Mode == "parallel").DowntimeMsP50;
}

public sealed record OrchestrationModeResult(
    string Mode,
    int Runs,
    double DowntimeMsP50,
    double DowntimeMsP99,
    long PacketsLostTotal,
    long PacketsSentTotal,
    double TotalMsP50,
    int Completed,
    int RolledBack);

/// <summary>Concurrent migrations between two hosts: medians over rounds of each round's p50/p99, and the pooled percentiles.</summary>
public sealed record ConcurrentBenchmarkResult(
    int Concurrent,
    int Rounds,
    int GuestMib,
    int DirtyMbps,
    double MedianRoundDowntimeMsP50,
    double MedianRoundDowntimeMsP99,
    double PooledDowntimeMsP50,
    double PooledDowntimeMsP99,
    IReadOnlyList<ConcurrentRound> PerRound);

public sealed record ConcurrentRound(int Migrations, int Completed, double DowntimeMsP50, double DowntimeMsP99);
