namespace OrleansMigrate.Fleet;

/// <summary>A migration policy as the cluster applies it (<c>omig policy list</c>).</summary>
/// <param name="MigrationChannels">Streams the QEMU migration runs on: 1 is QEMU's classic single stream, 2–16 is multifd with
/// that many channels on both sides (our own pre-copy engine always sends one stream and ignores it). A row stored before the
/// field reads 1.</param>
/// <param name="ColdMove">Whether a VM that cannot move live may be moved cold (a row stored before the field reads never).</param>
/// <param name="ColdShutdownTimeoutMs">How long a cold move waits for the guest to power off by itself before it stops it
/// hard, in ms.</param>
[GenerateSerializer, Immutable]
[Alias("omig.PolicyInfo")]
public sealed record PolicyInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] double DowntimeTargetMs,
    [property: Id(2)] long LinkBandwidthBytesPerSecond,
    [property: Id(3)] Agents.CompressionScope Compression,
    [property: Id(4)] bool AllowOlderVersion,
    [property: Id(5)] double CompletionTimeoutMsPerGiB,
    [property: Id(6)] double StallMs,
    [property: Id(7)] Agents.TimeoutAction OnTimeout,
    [property: Id(8)] Agents.StallAction OnStall,
    [property: Id(9)] double MaxDowntimeTargetMs,
    [property: Id(10)] bool AutoConverge,
    [property: Id(11)] bool LiveMigrate,
    [property: Id(12)] string? MaintenanceWindowUtc,
    [property: Id(13)] bool NotifyOwner,
    [property: Id(14)] int MigrationChannels = 1,
    [property: Id(15)] bool PostCopy = false,
    [property: Id(16)] ColdMove ColdMove = ColdMove.Never,
    [property: Id(17)] double ColdShutdownTimeoutMs = 0);
