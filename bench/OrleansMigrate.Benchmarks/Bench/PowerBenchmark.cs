using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Cli.Demo;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Grains.Operations;
using OrleansMigrate.Grains.Planning;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Cli.Bench;

/// <summary>What <c>omig bench power</c> runs.</summary>
/// <param name="HeadroomPercent">Kept free in every rack (the bench's failure domain), 0–90.</param>
/// <param name="TimeAcceleration">Modelled time runs this many times faster (analytic driver, cloud latencies, power changes).</param>
public sealed record PowerBenchmarkOptions(int Hosts, int VmsPerHost, int HeadroomPercent = 20, double TimeAcceleration = 1000, int CreateConcurrency = 16)
{
    /// <summary>Checks the options the way the CLI reports them: the flag and the range.</summary>
    public void Validate()
    {
        if (Hosts is < 2 or > 20_000)
        {
            throw OmigException.Invalid("--hosts", $"must be between 2 and 20000, got {Hosts}");
        }

        if (VmsPerHost is < 1 or > 30)
        {
            throw OmigException.Invalid("--vms-per-host", $"must be between 1 and 30, got {VmsPerHost}");
        }

        if (HeadroomPercent is < 0 or > PowerPlanner.MaxHeadroomPercent)
        {
            throw OmigException.Invalid("--headroom", $"must be between 0 and {PowerPlanner.MaxHeadroomPercent} percent, got {HeadroomPercent}");
        }

        if (double.IsNaN(TimeAcceleration) || TimeAcceleration is < 1 or > 1_000_000)
        {
            throw OmigException.Invalid("--acceleration", $"must be between 1 and 1000000, got {TimeAcceleration}");
        }
    }
}

/// <summary>
/// A power plan planned and applied on a whole simulated fleet (analytic driver, embedded cluster; the same fleet, drain,
/// scheduler, migration and power grains as production): the bench's fleet of <see cref="CampaignBenchmark"/> (64-core,
/// 256 GiB hosts, 40 to a rack; 2-vCPU, 8 GiB VMs round-robin, every tenth in an anti-affinity group of three), planned
/// with the headroom, applied, and then every figure read back from the registry: hosts off, each rack's free share
/// (headroom violations), every VM before against after (lost), and the invariant auditor.
/// </summary>
public sealed class PowerBenchmark(PowerBenchmarkOptions options, Action<string> log)
{
    public async Task<PowerBenchmarkResult> RunAsync(CancellationToken ct)
    {
        options.Validate();
        var a = options.TimeAcceleration;
        await using var cluster = await EmbeddedCluster.StartAsync(0, ct, minimumLevel: Microsoft.Extensions.Logging.LogLevel.Error, configure: silo =>
        {
            silo.Services.PostConfigure<HostRuntimeOptions>(o =>
            {
                o.Driver = HypervisorKind.Analytic;
                o.SimulatedGuestMiB = 8;
                o.VerifyConsistency = false;
                o.TimeAcceleration = a;
            });
            silo.Services.AddSingleton(CloudBackendOptions.Scaled(1 / a));
            // A power change modelled as a minute (IPMI, boot or shutdown).
            silo.Services.AddSingleton(new PowerOptions { SimulatedPowerMs = (int)Math.Round(60_000 / a), MaxParallelDrains = 100, HeadroomPercent = options.HeadroomPercent });
            silo.Services.Configure<MigrationAdmissionOptions>(o =>
            {
                o.MaxPerCluster = Math.Max(o.MaxPerCluster, 400);
                o.MaxOutboundPerHost = 8;
                o.MaxInboundPerHost = 4;
            });
        });
        var client = cluster.Client;
        var clock = Stopwatch.StartNew();
        await CampaignBenchmark.AddHostsAsync(client, options.Hosts);
        await CampaignBenchmark.CreateVmsAsync(client, new CampaignBenchmarkOptions(options.Hosts, options.VmsPerHost, 1, 1, a, "analytic", options.CreateConcurrency), ct);
        var before = (await client.ListVmsAsync()).Where(v => v.Power == PowerState.Running).Select(v => v.VmId).ToHashSet(StringComparer.Ordinal);
        log($"fleet: {options.Hosts} hosts, {before.Count} VMs running in {clock.Elapsed.TotalSeconds:0.0} s");

        clock.Restart();
        var plan = await client.PlanPowerAsync(options.HeadroomPercent);
        var planS = clock.Elapsed.TotalSeconds;
        log($"plan {plan.PlanId}: {plan.HostsFreed} hosts to free of a bound of {plan.Bound}, {plan.Moves} moves found, {planS:0.00} s ({plan.PlanSeconds:0.00} s in the planner)");

        clock.Restart();
        var status = await client.ApplyPowerPlanAsync();
        var lastLog = TimeSpan.Zero;
        while (!status.IsEnded)
        {
            await Task.Delay(500, ct);
            try
            {
                status = (await client.GetPowerAsync()).Plan!;
            }
            catch (TimeoutException)
            {
                continue; // A read queued behind a long pass on a loaded machine: read again, the apply runs on.
            }

            if (clock.Elapsed - lastLog > TimeSpan.FromSeconds(5))
            {
                lastLog = clock.Elapsed;
                log($"{clock.Elapsed.TotalSeconds,5:0} s: {status.Hosts.Count(h => h.State == PowerHostState.Off)}/{status.Hosts.Length} hosts off, "
                    + $"{status.Hosts.Count(h => h.State == PowerHostState.Draining)} draining, {status.Hosts.Count(h => h.State == PowerHostState.Failed)} failed");
            }
        }

        var applyS = clock.Elapsed.TotalSeconds;
        log($"plan {Naming.EnumNames.Of(status.State)} in {applyS:0.0} s");
        foreach (var failed in status.Hosts.Where(h => h.State == PowerHostState.Failed).Take(10))
        {
            log($"FAILED {failed.HostId}: {failed.Reason}");
        }

        // Every figure read back from the registry and the drains, not from the plan.
        var hosts = await client.ListHostsAsync();
        var off = hosts.Where(h => h.Power == HostPowerState.Off).ToList();
        var domains = PowerPlanner.Domains(hosts, "rack");
        var violations = domains.Where(d => !d.Keeps(options.HeadroomPercent)).ToList();
        foreach (var d in violations.Take(10))
        {
            log($"HEADROOM {d.Domain}: {d.FreeCoresPercent:0.#} % of cores, {d.FreeMemoryPercent:0.#} % of memory free");
        }

        var onHosts = hosts.Where(h => h.Power == HostPowerState.On).Select(h => h.HostId).ToHashSet(StringComparer.Ordinal);
        var after = await client.ListVmsAsync();
        var running = after.Where(v => v.Power == PowerState.Running && onHosts.Contains(v.HostId)).Select(v => v.VmId).ToHashSet(StringComparer.Ordinal);
        var lost = before.Count(id => !running.Contains(id));
        var moved = 0;
        foreach (var step in status.Hosts)
        {
            moved += (await client.GetDrainOrNullAsync(step.HostId))?.Vms.Count(v => v.State == DrainVmState.Moved) ?? 0;
        }

        var audit = await FleetAuditor.AuditAsync(client, TimeSpan.FromMinutes(10), ct);
        foreach (var f in audit.Findings.Take(20))
        {
            log($"AUDIT {f.Invariant} {f.Subject}: {f.Detail}");
        }

        await cluster.DisposeAsync();
        return new PowerBenchmarkResult(options.Hosts, before.Count, status.HostsFreed, status.Bound, moved, Math.Round(planS, 3), off.Count, violations.Count, lost,
            audit.Findings.Length, plan.Moves, Math.Round(plan.PlanSeconds, 3), Math.Round(applyS, 1), Naming.EnumNames.Of(status.State),
            off.Count(h => h.Vms.Count > 0 || h.Reservations.Count > 0), options.HeadroomPercent, domains.Length, a,
            Math.Round(domains.Min(d => Math.Min(d.FreeCoresPercent, d.FreeMemoryPercent)), 2));
    }
}

/// <summary>The JSON of <c>omig bench power</c> (the fields first). <c>moves</c>: migrations the apply's drains made
/// (read from each drain); <c>planned_moves</c>: the moves the planner found; <c>plan_s</c>: wall time of the plan call
/// (snapshot and planner), <c>plan_compute_s</c>: the planner alone. <c>headroom_violations</c>: racks whose powered-on
/// free share of cores or memory is under the headroom after the apply, read from the registry; <c>vms_lost</c>: VMs running
/// before that are not running on a powered-on host after; <c>off_hosts_with_vms</c>: powered-off hosts still holding VMs or
/// reservations (must be 0); <c>min_free_percent</c>: the lowest free share of any rack after, cores or memory.</summary>
public sealed record PowerBenchmarkResult(
    int Hosts,
    int Vms,
    int HostsFreed,
    int Bound,
    int Moves,
    double PlanS,
    int HostsPoweredOff,
    int HeadroomViolations,
    int VmsLost,
    int InvariantViolations,
    int PlannedMoves,
    double PlanComputeS,
    double ApplyS,
    string PlanState,
    int OffHostsWithVms,
    int HeadroomPercent,
    int Domains,
    double TimeAcceleration,
    double MinFreePercent)
{
    /// <summary>plan_s ≤ 10, hosts_freed ≥ 90 % of the bound, every freed host off, 0 violations, 0 lost.</summary>
    public bool TargetsMet =>
        PlanS <= 10 && HostsFreed >= 0.9 * Bound && HostsPoweredOff >= HostsFreed && HeadroomViolations == 0 && VmsLost == 0 && InvariantViolations == 0 && OffHostsWithVms == 0;
}
