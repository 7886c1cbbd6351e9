using System.Diagnostics.Metrics;
using OrleansMigrate.Audit;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Grains.Audit;

/// <summary>
/// Metrics of the continuous invariant auditor on the meter <see cref="MigrationTelemetry.MeterName"/>. The gauges report
/// only on the silo where the auditor grain ran its last pass: the grain records each pass into its silo's instance, and
/// forgets it when it deactivates; the audit driver of every other control silo makes its instance forget a report the
/// auditor no longer runs there. A scraper therefore sees one <see cref="Violations"/> series per invariant for the whole
/// cluster (from that silo), and the pass counter per silo (sum them).
/// </summary>
public sealed class AuditTelemetry
{
    /// <summary>Gauge, tag <c>invariant</c>: findings of the last completed pass (0 for each invariant that holds).</summary>
    public const string Violations = "omig.audit.violations";

    /// <summary>Counter, tag <c>outcome</c> (<c>ok</c>, <c>failed</c>): passes run on this silo.</summary>
    public const string Passes = "omig.audit.passes";

    /// <summary>Gauge, seconds: age of the last completed pass (grows when passes fail or stop).</summary>
    public const string LastPassAge = "omig.audit.last_pass.age";

    /// <summary>Gauge, milliseconds: duration of the last completed pass.</summary>
    public const string LastPassDuration = "omig.audit.last_pass.duration";

    private readonly TimeProvider _time;
    private readonly Counter<long> _passes;
    private AuditorStatus? _last;

    public AuditTelemetry(MigrationTelemetry telemetry, TimeProvider time)
    {
        _time = time;
        var meter = telemetry.Meter;
        meter.CreateObservableGauge(Violations, ObserveViolations, "{violation}", "Findings of the last invariant audit pass, by invariant");
        _passes = meter.CreateCounter<long>(Passes, "{pass}", "Invariant audit passes run, by outcome");
        meter.CreateObservableGauge(LastPassAge, ObserveAge, "s", "Age of the last completed invariant audit pass");
        meter.CreateObservableGauge(LastPassDuration, ObserveDuration, "ms", "Duration of the last completed invariant audit pass");
    }

    /// <summary>The auditor status these gauges report, or null when the auditor does not run on this silo.</summary>
    public AuditorStatus? Last => Volatile.Read(ref _last);

    internal void PassEnded(bool completed) => _passes.Add(1, new KeyValuePair<string, object?>("outcome", completed ? "ok" : "failed"));

    internal void Record(AuditorStatus status) => Volatile.Write(ref _last, status);

    internal void Forget() => Volatile.Write(ref _last, null);

    private IEnumerable<Measurement<long>> ObserveViolations() =>
        Last is { LastReport: not null } s
            ? s.Counts.Select(c => new Measurement<long>(c.Value, new KeyValuePair<string, object?>("invariant", c.Key)))
            : [];

    private IEnumerable<Measurement<double>> ObserveAge() =>
        Last is { LastPassAt: { } at } ? [new Measurement<double>(Math.Max(0, (_time.GetUtcNow() - at).TotalSeconds))] : [];

    private IEnumerable<Measurement<double>> ObserveDuration() =>
        Last is { LastPassAt: not null } s ? [new Measurement<double>(s.LastPassDurationMs)] : [];
}
