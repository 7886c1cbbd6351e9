using System.Collections.Immutable;

namespace OrleansMigrate.Migration;

/// <summary>What happened inside the downtime (source pause → destination resume), in ms.</summary>
/// <param name="DowntimeMs">Source pause to destination resume, as the data plane measured it.</param>
/// <param name="DataPlaneMs">Final copy (pages, session delta, device state) until the destination acknowledged.</param>
/// <param name="Steps">Each action inside the switchover with its duration, e.g. <c>disk vm1-root promote</c> → 5.2.</param>
[GenerateSerializer, Immutable]
[Alias("omig.DowntimeReport")]
public sealed record DowntimeReport(
    [property: Id(0)] double DowntimeMs,
    [property: Id(1)] double DataPlaneMs,
    [property: Id(2)] long FinalPages,
    [property: Id(3)] long FinalBytes,
    [property: Id(4)] long CompressedBytes,
    [property: Id(5)] int SessionDeltaEntries,
    [property: Id(6)] ImmutableDictionary<string, double> Steps)
{
    /// <summary>Every switchover step on one clock, in ms from the source's pause, ordered by start (empty for
    /// migrations recorded before it was kept).</summary>
    [Id(7)]
    public ImmutableArray<SwitchoverStepTime> Timeline { get; init; } = [];

    /// <summary>Grain calls between the pause and the resume (the source's pause report, the destination's
    /// switchover, and each disk and relay step it made); 0 when not counted.</summary>
    [Id(8)]
    public int CriticalPathCalls { get; init; }
}
