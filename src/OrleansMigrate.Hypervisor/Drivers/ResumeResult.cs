namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>The destination VM runs: the commit point of the migration.</summary>
/// <param name="ResumedTimestamp">End of the downtime, in <see cref="TimeProvider.GetTimestamp"/> ticks of the destination driver.</param>
/// <param name="ResumedAtUtc">Wall-clock time, for cross-host correlation.</param>
public sealed record ResumeResult(long ResumedTimestamp, DateTimeOffset ResumedAtUtc);
