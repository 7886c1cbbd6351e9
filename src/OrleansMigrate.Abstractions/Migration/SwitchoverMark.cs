namespace OrleansMigrate.Migration;

/// <summary>
/// One step of a switchover on the one clock every host shares (UTC wall time: QEMU's own event timestamps for
/// the source's STOP and the destination's RESUME, the hosts' clocks for everything else; on several machines
/// as close as their time synchronisation). A point in time has <see cref="EndUtc"/> equal to <see cref="StartUtc"/>.
/// </summary>
/// <param name="Step">What happened, e.g. <c>pre-switchover event</c>, <c>disk vm1-root take-over</c>, <c>RESUME</c>.</param>
/// <param name="Host">The host it happened on (or <c>control</c> for the migration grain).</param>
[GenerateSerializer, Immutable]
[Alias("omig.SwitchoverMark")]
public sealed record SwitchoverMark(
    [property: Id(0)] string Step,
    [property: Id(1)] string Host,
    [property: Id(2)] DateTimeOffset StartUtc,
    [property: Id(3)] DateTimeOffset EndUtc)
{
    public static SwitchoverMark At(string step, string host, DateTimeOffset at) => new(step, host, at, at);
}

/// <summary>A <see cref="SwitchoverMark"/> placed on the downtime: ms from the source's pause (STOP) to its start
/// and to its end.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.SwitchoverStepTime")]
public sealed record SwitchoverStepTime(
    [property: Id(0)] string Step,
    [property: Id(1)] string Host,
    [property: Id(2)] double StartMs,
    [property: Id(3)] double EndMs);

/// <summary>Places switchover marks on the downtime.</summary>
public static class SwitchoverTimeline
{
    /// <summary>Each mark as ms from <paramref name="pausedAtUtc"/> (the source's STOP), ordered by start, then end, then name.</summary>
    public static System.Collections.Immutable.ImmutableArray<SwitchoverStepTime> Of(DateTimeOffset pausedAtUtc, IEnumerable<SwitchoverMark> marks) =>
        [.. marks
            .Select(m => new SwitchoverStepTime(m.Step, m.Host, Math.Round((m.StartUtc - pausedAtUtc).TotalMilliseconds, 3),
                Math.Round((m.EndUtc - pausedAtUtc).TotalMilliseconds, 3)))
            .OrderBy(t => t.StartMs).ThenBy(t => t.EndMs).ThenBy(t => t.Step, StringComparer.Ordinal)];
}
