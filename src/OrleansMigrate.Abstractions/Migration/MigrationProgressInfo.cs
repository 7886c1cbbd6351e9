namespace OrleansMigrate.Migration;

/// <summary>Data-plane progress as the source reports it.</summary>
/// <param name="DirtyRateBytesPerSecond">Measured over the last round.</param>
/// <param name="ExpectedDowntimeMs">Estimated final copy at the current dirty set and bandwidth.</param>
/// <param name="EtaMs">Estimated time to the switchover, or null while unknown.</param>
[GenerateSerializer, Immutable]
[Alias("omig.MigrationProgressInfo")]
public sealed record MigrationProgressInfo(
    [property: Id(0)] int Round,
    [property: Id(1)] long BytesSent,
    [property: Id(2)] long BytesRemaining,
    [property: Id(3)] double DirtyRateBytesPerSecond,
    [property: Id(4)] double BandwidthBytesPerSecond,
    [property: Id(5)] double ExpectedDowntimeMs,
    [property: Id(6)] double? EtaMs,
    [property: Id(7)] string Stage)
{
    /// <summary>The downtime target pre-copy converges to now, in ms; raised step by step when the migration stalls.</summary>
    [Id(8)] public double DowntimeTargetMs { get; init; }

    public static readonly MigrationProgressInfo None = new(0, 0, 0, 0, 0, 0, null, "none");
}
