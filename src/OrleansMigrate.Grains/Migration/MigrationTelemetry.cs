using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// Traces and metrics of migrations: one trace per migration (a span per phase and per component
/// action, tagged with ids and byte counts) under <see cref="SourceName"/>, and the meter
/// <see cref="MeterName"/>: downtime histogram, migrations by outcome, phase durations, bytes moved,
/// run-loop faults, active migrations. The continuous invariant auditor adds its instruments to the same meter
/// (<see cref="Audit.AuditTelemetry"/>).
/// </summary>
public sealed class MigrationTelemetry : IDisposable
{
    public const string SourceName = "OrleansMigrate.Migration";
    public const string MeterName = "OrleansMigrate";

    /// <summary>The counter of <see cref="LoopFaults"/>.</summary>
    public const string LoopFaultsName = "omig.migration.loop_faults";

    private readonly Meter _meter = new(MeterName);
    private long _active;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _queuedByShard = new(StringComparer.Ordinal);

    public MigrationTelemetry()
    {
        Downtime = _meter.CreateHistogram<double>("omig.migration.downtime", "ms", "Source pause to destination resume");
        PhaseDuration = _meter.CreateHistogram<double>("omig.migration.phase.duration", "ms", "Time spent in each phase");
        Outcomes = _meter.CreateCounter<long>("omig.migration.outcomes", "{migration}", "Migrations ended, by outcome");
        BytesMoved = _meter.CreateCounter<long>("omig.migration.bytes", "By", "Bytes sent by migration streams");
        LoopFaults = _meter.CreateCounter<long>(LoopFaultsName, "{fault}", "Run loops of migrations that ended in an exception (each is re-driven)");
        _meter.CreateObservableUpDownCounter("omig.migration.active", () => Interlocked.Read(ref _active), "{migration}", "Migrations in flight");

        // Names a KubeVirt user recognises (kubevirt_vmi_migration_*), without units in the name the exporter would mangle.
        Succeeded = _meter.CreateCounter<long>("omig_migration_succeeded", null, "Migrations completed");
        Failed = _meter.CreateCounter<long>("omig_migration_failed", null, "Migrations that ended failed or rolled back (not cancelled)");
        PhaseSeconds = _meter.CreateHistogram<double>("omig_migration_phase_duration_seconds", null, "Time spent in each phase, by phase");
        _meter.CreateObservableGauge("omig_migration_data_processed_bytes", () => Gauge(p => p.BytesSent), null, "Bytes sent so far, per migration in flight");
        _meter.CreateObservableGauge("omig_migration_data_remaining_bytes", () => Gauge(p => p.BytesRemaining), null, "Bytes still to send (the dirty set), per migration in flight");
        _meter.CreateObservableGauge("omig_migration_dirty_memory_rate_bytes", () => Gauge(p => (long)p.DirtyRateBytesPerSecond), null, "Guest dirty rate in bytes per second, per migration in flight");
        _meter.CreateObservableGauge("omig_migrations_pending", () => (long)_queuedByShard.Values.Sum(), null, "Migrations waiting for an admission slot (summed over the scheduler shards on this silo)");
        _meter.CreateObservableGauge("omig_migrations_running", () => (long)_inFlight.Values.Count(f => f.Phase != MigrationPhase.Queued), null, "Migrations on this silo past admission and not ended");
    }

    public static ActivitySource Source { get; } = new(SourceName);

    /// <summary>This silo's <see cref="MeterName"/> meter, for the other instruments of the silo.</summary>
    internal Meter Meter => _meter;

    public Histogram<double> Downtime { get; }

    public Histogram<double> PhaseDuration { get; }

    public Counter<long> Outcomes { get; }

    public Counter<long> BytesMoved { get; }

    /// <summary>Failures that escaped a migration's run loop (e.g. a state write failing inside its error handling),
    /// tagged with the phase it was in; each one is logged and the loop re-driven after a short back-off.</summary>
    public Counter<long> LoopFaults { get; }

    /// <summary>Completed migrations (<c>omig_migration_succeeded</c>).</summary>
    public Counter<long> Succeeded { get; }

    /// <summary>Migrations that ended failed or rolled back (<c>omig_migration_failed</c>); a cancel is neither.</summary>
    public Counter<long> Failed { get; }

    /// <summary>Phase durations in seconds (<c>omig_migration_phase_duration_seconds</c>), the Prometheus convention beside
    /// <see cref="PhaseDuration"/> in ms.</summary>
    public Histogram<double> PhaseSeconds { get; }

    public void Started() => Interlocked.Increment(ref _active);

    /// <summary>A scheduler shard's queue length after each change; <c>omig_migrations_pending</c> is the sum over the
    /// shards on this silo.</summary>
    public void Queued(string shard, int count)
    {
        if (count == 0)
        {
            _queuedByShard.TryRemove(shard, out _);
        }
        else
        {
            _queuedByShard[shard] = count;
        }
    }

    /// <summary>Where a migration activated on this silo is now: its phase and the data plane's last progress, read by the
    /// per-migration gauges at each collection. Called on every phase change and progress poll.</summary>
    public void Track(string migrationId, string vmId, MigrationPhase phase, MigrationProgressInfo progress) =>
        _inFlight[migrationId] = new InFlight(vmId, phase, progress);

    /// <summary>The migration ended or its activation left this silo: its gauges go (the next activation tracks it again).</summary>
    public void Untrack(string migrationId) => _inFlight.TryRemove(migrationId, out _);

    public void Ended() => Interlocked.Decrement(ref _active);

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<long>> Gauge(Func<MigrationProgressInfo, long> value) =>
        _inFlight.Where(f => f.Value.Phase != MigrationPhase.Queued).Select(f => new Measurement<long>(value(f.Value.Progress),
            new KeyValuePair<string, object?>("migration_id", f.Key), new KeyValuePair<string, object?>("vm_id", f.Value.VmId)));

    private readonly ConcurrentDictionary<string, InFlight> _inFlight = new(StringComparer.Ordinal);

    private sealed record InFlight(string VmId, MigrationPhase Phase, MigrationProgressInfo Progress);
}
