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
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Hypervisor.Bench;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Cli.Bench;

/// <summary>What <c>omig bench chaos</c> runs.</summary>
/// <param name="Migrations">VM moves requested.</param>
/// <param name="Concurrency">Moves in flight at once.</param>
/// <param name="MaxAttempts">Migrations tried per move before it counts as not migrated.</param>
/// <param name="StuckAfter">A migration not ended after this long counts as stuck (and its VM is not retried).</param>
/// <param name="LatencyScale">Factor on the simulated cloud's production latencies (0.1: ten times faster).</param>
public sealed record ChaosBenchmarkOptions(
    long Seed,
    double FaultRate,
    int Migrations,
    int Concurrency,
    int MaxAttempts,
    TimeSpan StuckAfter,
    double LatencyScale,
    int GuestMiB);

/// <summary>
/// N live migrations through the whole control plane (embedded cluster, simulated hypervisors and cloud) with
/// seeded random faults at every seam: component actions and data-plane steps fail, run slow or stall. A move that
/// rolls back is retried, up to <see cref="ChaosBenchmarkOptions.MaxAttempts"/> migrations. Faults are armed
/// only after the fleet is provisioned and disarmed before the final audit, which checks every invariant against
/// the components' own views. Fault decisions are reproducible per (seed, step, subject, occurrence); with
/// concurrency 1 the whole run is.
/// </summary>
public sealed class ChaosBenchmark(ChaosBenchmarkOptions options, Action<string> log)
{
    private const int Hosts = 6;

    public async Task<ChaosBenchmarkResult> RunAsync(CancellationToken ct)
    {
        var faults = new RandomFaults(new FaultInjectionOptions { Rate = options.FaultRate, Seed = options.Seed, StallMs = 2000, SlowMs = 150 }, armed: false);
        await using var cluster = await EmbeddedCluster.StartAsync(0, ct, minimumLevel: Microsoft.Extensions.Logging.LogLevel.Error, configure: silo =>
        {
            silo.Services.AddSingleton<IFaultInjector>(faults);
            silo.Services.AddSingleton(CloudBackendOptions.Scaled(options.LatencyScale));
            silo.Services.Configure<HostRuntimeOptions>(o => o.SimulatedGuestMiB = options.GuestMiB);
            silo.Services.Configure<MigrationAdmissionOptions>(o =>
            {
                o.MaxOutboundPerHost = 4;
                o.MaxInboundPerHost = 4;
                o.MaxPerCluster = 64;
            });
        });
        var client = cluster.Client;
        foreach (var host in DemoFleet.Hosts(Hosts))
        {
            await client.AddHostAsync(host with { FirmwareVersion = "2.4.0", HardwareGeneration = 4 });
        }

        var vmCount = Math.Max(options.Concurrency * 2, 8);
        var idle = new ConcurrentQueue<VmSpec>();
        for (var i = 0; i < vmCount; i++)
        {
            var id = $"chaos-{i:000}";
            var ip = string.Create(CultureInfo.InvariantCulture, $"10.7.{i / 200}.{10 + (i % 200)}");
            var spec = new VmSpec(id, 2, 4096, [], "standard",
                ImmutableDictionary<string, string>.Empty.Add(SimulatedVmSpecs.DirtyLabel, "10"),
                [new DiskSpec(id + "-root", 20), new DiskSpec(id + "-data", 100)],
                [new NicSpec(i % 2 == 0 ? "vpc-chaos-a" : "vpc-chaos-b", ip, Client.Parsing.CliParsers.DeriveMac(id, ip))], []);
            await client.CreateVmAsync(spec, $"host-{(i % Hosts) + 1}");
            idle.Enqueue(spec);
        }

        faults.Arm();
        log($"fleet: {Hosts} hosts, {vmCount} VMs; faults armed: rate {options.FaultRate.ToString(CultureInfo.InvariantCulture)}, seed {options.Seed}");
        var clock = Stopwatch.StartNew();
        var outcomes = new ConcurrentBag<AttemptOutcome>();
        var moved = 0;
        var notMoved = new ConcurrentBag<string>();
        var next = -1;
        var progress = 0;

        async Task WorkerAsync()
        {
            while (Interlocked.Increment(ref next) is var n && n < options.Migrations)
            {
                if (!idle.TryDequeue(out var vm))
                {
                    // Every VM is busy or parked as stuck: nothing left to move.
                    notMoved.Add($"move {n}: no idle VM");
                    continue;
                }

                var policy = (n % 3) switch { 0 => "standard", 1 => "economy", _ => "critical" };
                var mode = n % 5 == 4 ? OrchestrationMode.Serial : OrchestrationMode.Parallel;
                var (done, stuck) = await MoveAsync(client, vm, policy, mode, outcomes, ct);
                if (done)
                {
                    Interlocked.Increment(ref moved);
                }
                else
                {
                    notMoved.Add(string.Create(CultureInfo.InvariantCulture, $"move {n}: {vm.VmId} ({policy}, {mode.ToString().ToLowerInvariant()})"));
                }

                if (!stuck)
                {
                    idle.Enqueue(vm);
                }

                var p = Interlocked.Increment(ref progress);
                if (p % Math.Max(1, options.Migrations / 20) == 0 || p == options.Migrations)
                {
                    log($"{p}/{options.Migrations} moves, {moved} migrated, {faults.InjectedTotal} faults injected, {clock.Elapsed.TotalSeconds:0} s");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(_ => Task.Run(WorkerAsync, ct)));
        var wall = clock.Elapsed;
        faults.Disarm();

        // Whatever is still in flight (a stuck migration) gets the stuck deadline once more, then the audit runs.
        var quiet = Stopwatch.StartNew();
        while ((await client.ListMigrationsAsync(includeEnded: false)).Length > 0 && quiet.Elapsed < options.StuckAfter)
        {
            await Task.Delay(200, ct);
        }

        var audit = await FleetAuditor.AuditAsync(client, options.StuckAfter, ct);
        foreach (var f in audit.Findings)
        {
            log($"AUDIT {f.Invariant} {f.Subject}: {f.Detail}");
        }

        var all = outcomes.ToList();
        var downtimes = all.Where(o => o.Phase == MigrationPhase.Completed && o.DowntimeMs is not null).Select(o => o.DowntimeMs!.Value).ToList();
        return new ChaosBenchmarkResult(
            options.Seed,
            options.FaultRate,
            options.Migrations,
            all.Count(o => o.Phase == MigrationPhase.Completed),
            all.Count(o => o.Phase == MigrationPhase.RolledBack),
            all.Count(o => o.Phase == MigrationPhase.Failed),
            all.Count(o => o.Phase is null && !o.Refused),
            audit.Findings.Length,
            options.Migrations == 0 ? 1 : (double)moved / options.Migrations,
            all.Count,
            all.Count(o => o.Refused),
            options.Concurrency,
            options.MaxAttempts,
            faults.Calls,
            faults.InjectedTotal,
            faults.Injected,
            all.Where(o => o.Phase == MigrationPhase.RolledBack && o.Failure is not null)
                .GroupBy(o => Cause(o.Failure!)).OrderByDescending(g => g.Count()).ToImmutableSortedDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
            [.. audit.Findings.Select(f => $"{f.Invariant} {f.Subject}: {f.Detail}")],
            [.. notMoved.Order(StringComparer.Ordinal)],
            downtimes.Count == 0 ? double.NaN : Percentiles.Of(downtimes, 50),
            downtimes.Count == 0 ? double.NaN : Percentiles.Of(downtimes, 99),
            Math.Round(wall.TotalSeconds, 2));
    }

    /// <summary>One requested move: migrations to the next host until one completes or the attempts are spent.</summary>
    private async Task<(bool Done, bool Stuck)> MoveAsync(OmigClient client, VmSpec vm, string policy, OrchestrationMode mode, ConcurrentBag<AttemptOutcome> outcomes, CancellationToken ct)
    {
        for (var attempt = 1; attempt <= options.MaxAttempts; attempt++)
        {
            var record = await client.GetVmAsync(vm.VmId);
            if (record.Power != PowerState.Running)
            {
                // A failed migration may leave the VM lost; nothing else stops a VM in this run.
                return (false, false);
            }

            var to = $"host-{(int.Parse(record.HostId["host-".Length..], CultureInfo.InvariantCulture) % Hosts) + 1}";
            MigrationStatus started;
            try
            {
                started = await client.MigrateAsync(new MigrationRequest(vm.VmId, to, policy, mode, RequestedBy: "bench-chaos"));
            }
            catch (Errors.OmigException ex)
            {
                // Refused at admission (e.g. the previous migration of this VM is still ending): try again shortly.
                outcomes.Add(new AttemptOutcome(null, ex.Message, null, Refused: true));
                await Task.Delay(100, ct);
                continue;
            }

            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(options.StuckAfter);
            MigrationStatus? last = null;
            try
            {
                await foreach (var status in client.WatchMigrationAsync(started.MigrationId, deadline.Token))
                {
                    last = status;
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                log($"STUCK {started.MigrationId} ({vm.VmId}) in {(last is null ? "an unknown phase" : Naming.EnumNames.Of(last.Phase))} after {options.StuckAfter.TotalSeconds:0} s");
                outcomes.Add(new AttemptOutcome(null, $"stuck in {(last is null ? "an unknown phase" : Naming.EnumNames.Of(last.Phase))}", null, Refused: false));
                return (false, true);
            }

            outcomes.Add(new AttemptOutcome(last!.Phase, last.Failure, last.Downtime?.DowntimeMs, Refused: false));
            if (last.Phase == MigrationPhase.Completed)
            {
                return (true, false);
            }

            if (last.Phase == MigrationPhase.Failed)
            {
                log($"FAILED {started.MigrationId} ({vm.VmId}): {last.Failure}");
            }
        }

        return (false, false);
    }

    /// <summary>The failure text without its subject, so rollbacks group by cause.</summary>
    private static string Cause(string failure)
    {
        var at = failure.IndexOf(" (", StringComparison.Ordinal);
        return at > 0 ? failure[..at] : failure.Length > 80 ? failure[..80] : failure;
    }

    /// <summary>Phase null: refused at admission, or (not refused) stuck — did not end in time.</summary>
    private sealed record AttemptOutcome(MigrationPhase? Phase, string? Failure, double? DowntimeMs, bool Refused);
}

/// <summary>The JSON of <c>omig bench chaos</c>. <c>completed</c>, <c>rolled_back</c>, <c>failed</c> and <c>stuck</c>
/// count migration attempts (a move may take several); <c>vms_migrated_after_retries_ratio</c> is moves completed
/// within the attempt budget over moves requested.</summary>
public sealed record ChaosBenchmarkResult(
    long Seed,
    double FaultRate,
    int Migrations,
    int Completed,
    int RolledBack,
    int Failed,
    int Stuck,
    int InvariantViolations,
    double VmsMigratedAfterRetriesRatio,
    int Attempts,
    int RefusedAtAdmission,
    int Concurrency,
    int MaxAttempts,
    long FaultStepCalls,
    int FaultsInjected,
    ImmutableSortedDictionary<string, int> FaultsByStep,
    ImmutableSortedDictionary<string, int> RollbackCauses,
    ImmutableArray<string> Findings,
    ImmutableArray<string> NotMigrated,
    double DowntimeMsP50,
    double DowntimeMsP99,
    double WallS)
{
    /// <summary>The issue's targets: no violation, nothing stuck, at least 99 % moved.</summary>
    public bool MeetsTargets => InvariantViolations == 0 && Stuck == 0 && VmsMigratedAfterRetriesRatio >= 0.99;
}
