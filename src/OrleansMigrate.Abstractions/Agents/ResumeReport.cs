namespace OrleansMigrate.Agents;

/// <summary>The destination VM runs: the commit point.</summary>
/// <param name="Consistent">The destination's check of guest memory and session table against the source at pause; null when not checked.</param>
[GenerateSerializer, Immutable]
[Alias("omig.ResumeReport")]
public sealed record ResumeReport(
    [property: Id(0)] DateTimeOffset ResumedAtUtc,
    [property: Id(1)] bool? Consistent);
