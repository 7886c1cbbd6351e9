using OrleansMigrate.Audit;

namespace OrleansMigrate.Grains.Audit;

/// <summary>
/// The continuous invariant auditor on this silo. <see cref="Hosting.SiloBuilderExtensions.UseOrleansMigrate"/> sets
/// <see cref="Interval"/> from <c>Omig:AuditIntervalSeconds</c> (default 30 s); a test cluster built with
/// <see cref="Hosting.SiloBuilderExtensions.AddOrleansMigrateCore"/> has it off unless it configures these options.
/// Only silos with the control role drive the auditor.
/// </summary>
public sealed class InvariantAuditOptions
{
    /// <summary>Time between passes; <see cref="TimeSpan.Zero"/> (the default here) turns the driver of this silo off.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.Zero;

    /// <summary>A pass not finished after this long is abandoned and counted as failed; default: the interval, kept
    /// within 5–60 s.</summary>
    public TimeSpan? PassTimeout { get; set; }

    /// <summary>An in-flight migration whose phase has not changed for this long is a <c>migration-progress</c> finding (default 10 min).</summary>
    public TimeSpan StuckAfter { get; set; } = InvariantAudit.DefaultStuckAfter;

    public TimeSpan EffectivePassTimeout => PassTimeout is { } t && t > TimeSpan.Zero
        ? t
        : TimeSpan.FromTicks(Math.Clamp(Interval.Ticks, TimeSpan.FromSeconds(5).Ticks, TimeSpan.FromSeconds(60).Ticks));
}
