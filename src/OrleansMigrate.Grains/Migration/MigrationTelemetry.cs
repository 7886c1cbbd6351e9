using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace OrleansMigrate.Migration;

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

    public MigrationTelemetry()
    {
        Downtime = _meter.CreateHistogram<double>("omig.migration.downtime", "ms", "Source pause to destination resume");
        PhaseDuration = _meter.CreateHistogram<double>("omig.migration.phase.duration", "ms", "Time spent in each phase");
        Outcomes = _meter.CreateCounter<long>("omig.migration.outcomes", "{migration}", "Migrations ended, by outcome");
        BytesMoved = _meter.CreateCounter<long>("omig.migration.bytes", "By", "Bytes sent by migration streams");
        LoopFaults = _meter.CreateCounter<long>(LoopFaultsName, "{fault}", "Run loops of migrations that ended in an exception (each is re-driven)");
        _meter.CreateObservableUpDownCounter("omig.migration.active", () => Interlocked.Read(ref _active), "{migration}", "Migrations in flight");
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

    public void Started() => Interlocked.Increment(ref _active);

    public void Ended() => Interlocked.Decrement(ref _active);

    public void Dispose() => _meter.Dispose();
}
