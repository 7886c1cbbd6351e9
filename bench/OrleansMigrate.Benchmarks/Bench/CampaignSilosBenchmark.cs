using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Cli.Bench;

/// <summary>What <c>omig bench campaign --silos N</c> runs: the campaign bench's fleet and campaign (<see cref="Campaign"/>),
/// over <see cref="Silos"/> control silo processes and one host silo process on PostgreSQL.</summary>
/// <param name="SiloDll">Path of <c>omig-silo.dll</c>.</param>
/// <param name="KillFraction">The control silo is killed once this fraction of the hosts is upgraded (0.33: a third).</param>
/// <param name="CampaignLimit">The campaign's wall-time limit after which the run gives up (and reports it incomplete).</param>
/// <param name="Kill">Which control silo is killed: <c>campaign</c> (the one holding the campaign grain), <c>busiest</c>
/// (the one holding the most control-plane activations: registries, scheduler, migrations) or a silo name (<c>control-2</c>).</param>
public sealed record CampaignSilosOptions(
    CampaignBenchmarkOptions Campaign,
    int Silos,
    string ConnectionString,
    string SiloDll,
    double KillFraction = 1.0 / 3,
    TimeSpan? CampaignLimit = null,
    string Kill = "campaign");

/// <summary>
/// The campaign benchmark spread over processes: <c>N</c> control silos (<c>omig-silo --role control</c>) and one host
/// silo serving every host of the fleet (analytic driver, the bench's time acceleration, upgrade time, admission limits
/// and cloud latencies), all on PostgreSQL under a fresh cluster id. It builds the same fleet, runs the same campaign,
/// SIGKILLs one control silo once a third of the hosts are upgraded (never restarted) and lets the campaign finish on
/// the others. Every ~2 s it asks Orleans' management grain how many activations of each grain type each silo holds,
/// and reports per silo the most it saw of each kind (campaign, drain, migration, scheduler, registries…). Every
/// process it starts is killed by its id at the end, also on failure or Ctrl-C.
/// </summary>
public sealed partial class CampaignSilosBenchmark(CampaignSilosOptions options, Action<string> log)
{
    /// <summary>How long a silo process may take to say it is up.</summary>
    private static readonly TimeSpan SiloStartLimit = TimeSpan.FromMinutes(3);

    /// <summary>One retried client call: at most this many attempts, within <see cref="RetryLimit"/>.</summary>
    private const int MaxAttempts = 60;

    private static readonly TimeSpan RetryLimit = TimeSpan.FromMinutes(3);

    /// <summary>Between two placement samples.</summary>
    private static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(2);

    /// <summary>One placement sample may take this long (a silo just killed and not yet declared dead makes it wait).</summary>
    private static readonly TimeSpan SampleLimit = TimeSpan.FromSeconds(15);

    /// <summary>How long after the campaign the fleet may take to be whole and audit clean (repairs on their own clocks).</summary>
    private static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan SettleInterval = TimeSpan.FromSeconds(3);

    private readonly List<SiloChildProcess> _silos = [];

    // (silo name, kind) → the most activations of that kind seen on that silo in one sample.
    private readonly ConcurrentDictionary<(string Silo, string Kind), int> _max = new();

    // The same, over the samples taken before the kill only.
    private readonly ConcurrentDictionary<(string Silo, string Kind), int> _maxBeforeKill = new();
    private volatile bool _killDone;
    private volatile IReadOnlyDictionary<(string Silo, string Kind), int> _last = new Dictionary<(string Silo, string Kind), int>();
    private int _samples;
    private int _sampleFailures;

    public async Task<CampaignSilosResult> RunAsync(CancellationToken ct)
    {
        var o = options.Campaign;
        var a = o.TimeAcceleration;
        var clusterId = "bench-" + Guid.NewGuid().ToString("N")[..12];
        var admission = new MigrationAdmissionOptions();
        string[] settings =
        [
            "--driver", "analytic",
            "--Omig:TimeAcceleration=" + a.ToString("R", CultureInfo.InvariantCulture),
            "--Omig:CloudLatencyScale=" + (1 / a).ToString("R", CultureInfo.InvariantCulture),
            "--Omig:Maintenance:SimulatedUpgradeMs=" + CampaignBenchmark.SimulatedUpgradeMs(a).ToString(CultureInfo.InvariantCulture),
            "--Omig:Admission:MaxPerCluster=" + Math.Max(admission.MaxPerCluster, o.MaxParallelMigrations).ToString(CultureInfo.InvariantCulture),
            "--Omig:Admission:MaxOutboundPerHost=8",
            "--Omig:Admission:MaxInboundPerHost=4",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:OrleansMigrate=Warning",
        ];
        var hostIds = string.Join(',', Enumerable.Range(0, o.Hosts).Select(CampaignBenchmark.HostId));
        for (var i = 1; i <= options.Silos; i++)
        {
            _silos.Add(new SiloChildProcess(options.SiloDll, $"control-{i}", "control", "", options.ConnectionString, clusterId, settings));
        }

        _silos.Add(new SiloChildProcess(options.SiloDll, "hosts-1", "host", hostIds, options.ConnectionString, clusterId, settings));
        void KillAll(object? sender, EventArgs e) => KillEverything();
        AppDomain.CurrentDomain.ProcessExit += KillAll;
        try
        {
            return await RunClusterAsync(clusterId, ct);
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            foreach (var s in _silos.Where(s => s.Pid != 0))
            {
                log($"--- last output of silo {s.Name} (pid {s.Pid}{(s.Killed ? ", killed by the bench" : s.HasExited ? ", EXITED" : "")}):\n{Tail(s.Tail, 40)}");
            }

            throw;
        }
        finally
        {
            KillEverything();
            AppDomain.CurrentDomain.ProcessExit -= KillAll;
        }
    }

    private void KillEverything()
    {
        foreach (var s in _silos)
        {
            s.Dispose();
        }
    }

    private async Task<CampaignSilosResult> RunClusterAsync(string clusterId, CancellationToken ct)
    {
        var o = options.Campaign;
        var clock = Stopwatch.StartNew();
        var controls = _silos.Where(s => s.Role == "control").ToList();
        var hostSilo = _silos.Single(s => s.Role == "host");
        await Task.WhenAll(controls.Select(c => c.StartAsync(SiloStartLimit, ct)));
        await hostSilo.StartAsync(SiloStartLimit, ct);
        log($"cluster {clusterId}: {string.Join(", ", _silos.Select(s => $"{s.Name} pid {s.Pid} (silo port {s.SiloPort})"))} up in {clock.Elapsed.TotalSeconds:0.0} s");

        await using var client = await OmigClient.ConnectAsync(new OmigClientOptions
        {
            PostgresConnectionString = options.ConnectionString, ClusterId = clusterId, ServiceId = clusterId, ConnectTimeout = TimeSpan.FromSeconds(60),
        }, ct);

        clock.Restart();
        await CampaignBenchmark.AddHostsAsync(client, o.Hosts);
        var total = o.Hosts * o.VmsPerHost;
        await CampaignBenchmark.CreateVmsAsync(client, o, ct);
        var setupS = clock.Elapsed.TotalSeconds;
        log($"fleet: {o.Hosts} hosts, {total} VMs in {setupS:0.0} s");

        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sampler = Task.Run(() => SampleLoopAsync(client, sampling.Token), CancellationToken.None);

        clock.Restart();
        var campaign = await RetryAsync(() => client.StartCampaignAsync(CampaignBenchmark.Spec(o), "camp-bench"), "starting the campaign", ct);
        var limit = options.CampaignLimit ?? TimeSpan.FromMinutes(60);
        var killAt = (int)Math.Ceiling(o.Hosts * options.KillFraction);
        KilledSilo? killed = null;
        double? recoveryS = null;
        var lastLog = TimeSpan.Zero;
        var failedPolls = 0;
        while (!campaign.IsEnded && campaign.State != CampaignState.Paused && clock.Elapsed < limit)
        {
            await Task.Delay(500, ct);
            try
            {
                campaign = await client.GetCampaignAsync(campaign.CampaignId).WaitAsync(TimeSpan.FromSeconds(40), ct);
            }
            catch (Exception ex) when (IsTransient(ex))
            {
                failedPolls++;
                if (clock.Elapsed - lastLog > TimeSpan.FromSeconds(5))
                {
                    lastLog = clock.Elapsed;
                    log($"{clock.Elapsed.TotalSeconds,5:0} s: reading the campaign failed ({ex.GetType().Name}: {First(ex.Message)}); reading again");
                }

                continue;
            }

            if (killed is null && campaign.HostsUpgraded >= killAt)
            {
                killed = await KillOneAsync(client, campaign, clock.Elapsed, ct);
            }
            else if (killed is not null && recoveryS is null && campaign.MigrationsCompleted > killed.MigrationsAtKill)
            {
                recoveryS = Math.Round(clock.Elapsed.TotalSeconds - killed.AtS, 1);
                log($"{clock.Elapsed.TotalSeconds,5:0} s: first migration completed after the kill, {recoveryS} s after it");
            }

            if (clock.Elapsed - lastLog > TimeSpan.FromSeconds(5))
            {
                lastLog = clock.Elapsed;
                log($"{clock.Elapsed.TotalSeconds,5:0} s: {campaign.HostsUpgraded}/{campaign.Hosts.Length} hosts upgraded, {campaign.MigrationsCompleted} migrations, "
                    + $"{campaign.MigrationsCompleted / clock.Elapsed.TotalSeconds:0.0} /s, {campaign.HostsFailed} failed");
            }
        }

        var wallS = clock.Elapsed.TotalSeconds;
        log($"campaign {Naming.EnumNames.Of(campaign.State)} in {wallS:0.0} s ({failedPolls} progress reads failed during the run): {campaign.Note}");
        foreach (var h in campaign.Hosts.Where(h => h.State != CampaignHostState.Done).Take(10))
        {
            log($"host {h.HostId}: {Naming.EnumNames.Of(h.State)}{(h.Reason is null ? "" : ": " + h.Reason)}");
        }

        await SampleOnceAsync(client, ct);
        await sampling.CancelAsync();
        await sampler;

        var recent = (await RetryAsync(() => client.ListMigrationsAsync(includeEnded: true), "listing migrations", ct)).Where(m => m.Phase == MigrationPhase.Completed).ToList();
        var migrationMs = recent.Count == 0 ? 0 : Math.Round(Hypervisor.Bench.Percentiles.Of([.. recent.Select(m => m.TotalMs ?? 0)], 50), 1);
        // The fleet is read and audited at once, then again every few seconds until both are clean or SettleLimit has
        // passed: some repairs after a silo crash run on their own clocks (a reservation made by a scheduler shard that died
        // before storing its migration is given back by its host ~15 s after that host first sees it). What the first
        // reading found is reported beside the final one, so a repair is visible and one that never comes still fails.
        var settle = Stopwatch.StartNew();
        (int Lost, AuditReport Audit)? first = null;
        int lost;
        AuditReport audit;
        for (var round = 0; ; round++)
        {
            var vms = await RetryAsync(() => client.ListVmsAsync(), "listing VMs", ct);
            lost = total - vms.Count(v => v.Power == PowerState.Running);
            audit = await RetryAsync(() => FleetAuditor.AuditAsync(client, TimeSpan.FromMinutes(10), ct), "auditing the fleet", ct);
            if (first is null || (lost == 0 && audit.Findings.Length == 0) || settle.Elapsed >= SettleLimit)
            {
                var when = first is null ? "at the end" : $"{settle.Elapsed.TotalSeconds:0.0} s after the end (reading {round + 1})";
                foreach (var v in vms.Where(v => v.Power != PowerState.Running).Take(20))
                {
                    log($"{when}: VM {v.VmId} on {v.HostId}: {Naming.EnumNames.Of(v.Power)}{(v.PowerDetail is null ? "" : " (" + v.PowerDetail + ")")}");
                }

                foreach (var f in audit.Findings.Take(20))
                {
                    log($"{when}: AUDIT {f.Invariant} {f.Subject}: {f.Detail}");
                }

                first ??= (lost, audit);
            }

            if ((lost == 0 && audit.Findings.Length == 0) || settle.Elapsed >= SettleLimit)
            {
                break;
            }

            await Task.Delay(SettleInterval, ct);
        }

        var settledS = lost == 0 && audit.Findings.Length == 0 ? Math.Round(settle.Elapsed.TotalSeconds, 1) : (double?)null;
        if (first.Value.Lost > 0 || first.Value.Audit.Findings.Length > 0)
        {
            log(settledS is { } s
                ? $"the fleet was whole and the audit clean {s:0.0} s after the campaign ended"
                : $"after {SettleLimit.TotalSeconds:0} s the fleet still has {lost} VM(s) not running and {audit.Findings.Length} audit finding(s)");
        }

        var placement = _silos.Select(s => new SiloPlacement(s.Name, s.Role, s.Pid, s.Killed,
            _max.Where(m => m.Key.Silo == s.Name).ToImmutableSortedDictionary(m => m.Key.Kind, m => m.Value, StringComparer.Ordinal),
            _maxBeforeKill.Where(m => m.Key.Silo == s.Name).ToImmutableSortedDictionary(m => m.Key.Kind, m => m.Value, StringComparer.Ordinal))).ToImmutableArray();
        var working = placement.Count(p => p.Role == "control" && (p.Grains.GetValueOrDefault(GrainKinds.Drain) > 0 || p.Grains.GetValueOrDefault(GrainKinds.Migration) > 0));
        var completed = campaign.State == CampaignState.Completed;
        var met = completed && campaign.HostsUpgraded == o.Hosts && lost == 0 && audit.Findings.Length == 0 && killed is not null && working >= 2;
        return new CampaignSilosResult(
            options.Silos,
            o.Hosts,
            total,
            Math.Round(campaign.MigrationsCompleted / wallS, 1),
            migrationMs,
            killed,
            Naming.EnumNames.Of(campaign.State),
            lost,
            audit.Findings.Length,
            first.Value.Lost,
            first.Value.Audit.Findings.Length,
            settledS,
            placement,
            met,
            campaign.HostsUpgraded,
            campaign.MigrationsCompleted,
            campaign.MigrationsRolledBack,
            campaign.MigrationsFailed,
            campaign.HostsFailed,
            Math.Round(wallS, 1),
            Math.Round(setupS, 1),
            recoveryS,
            working,
            _samples,
            _sampleFailures,
            failedPolls,
            o.TimeAcceleration,
            o.Batch,
            o.MaxParallelMigrations,
            clusterId,
            DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            Environment.ProcessorCount);
    }

    /// <summary>A call that may fail while a silo is down and the cluster fails over: retried, a bounded number of times.</summary>
    private async Task<T> RetryAsync<T>(Func<Task<T>> call, string what, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception ex) when (IsTransient(ex) && attempt < MaxAttempts && clock.Elapsed < RetryLimit)
            {
                log($"{what} failed ({ex.GetType().Name}: {First(ex.Message)}); attempt {attempt + 1} of at most {MaxAttempts} in 1 s");
                await Task.Delay(1000, ct);
            }
        }
    }

    /// <summary>Failures of a call that a failover explains: the silo that held the grain is gone, the call timed out.</summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        OmigException { Code: OmigErrorCode.Unavailable } => true,
        TimeoutException or OrleansException => true, // SiloUnavailableException is an OrleansException.
        AggregateException { InnerExceptions: [var inner] } => IsTransient(inner),
        _ => false,
    };

    private static string First(string text) => text.Split('\n', 2)[0];

    private static string Tail(string text, int lines) => string.Join('\n', text.Split('\n').TakeLast(lines));
}
