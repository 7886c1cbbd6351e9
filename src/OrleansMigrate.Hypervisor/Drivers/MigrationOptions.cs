using System.Globalization;

namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Source-side settings of one live migration. Validated by <see cref="Validate"/> when the migration starts.</summary>
public sealed record MigrationOptions
{
    /// <summary>Default downtime target: 20 ms, well under the seed's 70–100 ms end-to-end switchover.</summary>
    public const double DefaultDowntimeTargetMs = 20;

    /// <summary>Default link cap: 1 250 000 000 B/s (10 Gb/s).</summary>
    public const long DefaultLinkBandwidthBytesPerSecond = 1_250_000_000;

    /// <summary>Most migration channels (<see cref="MigrationChannels"/>) a migration may ask for.</summary>
    public const int MaxMigrationChannels = 16;

    /// <summary>
    /// Downtime the final copy should fit in, in ms (0.1..60000). Pre-copy converges when the estimated
    /// final copy (pending dirty bytes, session delta and device state over the measured bandwidth, plus
    /// <see cref="SwitchoverOverheadMs"/>) is at or under it.
    /// </summary>
    public double DowntimeTargetMs { get; init; } = DefaultDowntimeTargetMs;

    /// <summary>
    /// Emulated link capacity in bytes per second (token bucket on the sender, no burst credit); 0 = uncapped.
    /// 125 000 000 is 1 Gb/s, 1 250 000 000 is 10 Gb/s.
    /// </summary>
    public long LinkBandwidthBytesPerSecond { get; init; } = DefaultLinkBandwidthBytesPerSecond;

    /// <summary>Which copies are LZ4-compressed; default <see cref="CompressionMode.Final"/>.</summary>
    public CompressionMode Compression { get; init; } = CompressionMode.Final;

    /// <summary>The pre-last-copy stage (enabled by default).</summary>
    public PreLastCopyOptions PreLastCopy { get; init; } = new();

    /// <summary>Most pre-copy rounds, counting the bulk round (1..100000). Pre-last-copy rounds do not count.</summary>
    public int MaxRounds { get; init; } = 30;

    /// <summary>Longest pre-copy, in ms from the start of the bulk round (1..86400000). Pre-last-copy time does not count.</summary>
    public double MaxPreCopyMs { get; init; } = 120_000;

    /// <summary>What to do when <see cref="MaxRounds"/> or <see cref="MaxPreCopyMs"/> is hit. The engine alone decides at its
    /// limit: the QEMU driver, which has no such limit of its own, applies <see cref="MaxPreCopyMs"/> and this action itself.</summary>
    public PreCopyLimitAction LimitAction { get; init; } = PreCopyLimitAction.ForceSwitchover;

    /// <summary>Who set the limits and their action (e.g. <c>policy 'critical'</c>), named in the failure when a limit
    /// aborts the migration; null names none.</summary>
    public string? LimitSource { get; init; }

    /// <summary>
    /// Most 4 KiB pages in one frame (1..1024). The engine also keeps a frame near 1 ms of link time so
    /// pacing stays smooth on slow links; at least 16 pages per frame.
    /// </summary>
    public int MaxPagesPerFrame { get; init; } = 256;

    /// <summary>Fixed cost added to every downtime estimate for pause, handshake and resume, in ms (0..1000).</summary>
    public double SwitchoverOverheadMs { get; init; } = 0.5;

    /// <summary>Timeout for the TCP connect and the destination's hello, in ms (1..600000).</summary>
    public int ConnectTimeoutMs { get; init; } = 5_000;

    /// <summary>How long the final copy waits for the destination's acknowledgement, in ms (1..600000).</summary>
    public int AckTimeoutMs { get; init; } = 10_000;

    /// <summary>Kernel socket send/receive buffer size in bytes (64 KiB..256 MiB).</summary>
    public int SocketBufferBytes { get; init; } = 4 << 20;

    /// <summary>
    /// QEMU's auto-converge: throttle the guest's vCPUs while pre-copy does not converge (QEMU driver; the
    /// simulated driver converges with its pre-last-copy stage instead and ignores this).
    /// </summary>
    public bool AutoConverge { get; init; }

    /// <summary>
    /// Streams the migration runs on (1..<see cref="MaxMigrationChannels"/>): 1 is QEMU's classic single stream; more is QEMU
    /// multifd with that many channels, which the destination must be prepared with too
    /// (<see cref="IncomingMigrationOptions.MigrationChannels"/>). The simulated driver's own engine sends one stream and ignores this.
    /// </summary>
    public int MigrationChannels { get; init; } = 1;

    /// <summary>
    /// Allows the switch to post-copy (QEMU driver; the destination must be prepared with
    /// <see cref="IncomingMigrationOptions.PostCopy"/> too). When the orchestrator forces the switchover of a pre-copy that
    /// does not converge (<see cref="IOutgoingMigration.RequestSwitchover"/>, or the time limit with
    /// <see cref="PreCopyLimitAction.ForceSwitchover"/>), the source stops the guest, sends only its device state and the
    /// destination runs at once, pulling the pages it still lacks. The downtime no longer grows with the dirty set, but from
    /// then until the last page arrived a destination or network failure loses the VM (<see cref="MigrationFailureKind.PostCopyLost"/>).
    /// Not with more than one <see cref="MigrationChannels"/> (QEMU 7.2 refuses post-copy with multifd). The simulated
    /// driver's own engine has no post-copy: it switches over as it would without this.
    /// </summary>
    public bool PostCopy { get; init; }

    /// <summary>Longest post-copy, in ms from the destination's start (1..86400000): if the source has not sent the last
    /// page by then, the migration fails as <see cref="MigrationFailureKind.PostCopyLost"/>.</summary>
    public int PostCopyTimeoutMs { get; init; } = 600_000;

    /// <summary>
    /// Test seam: wraps the connected transport stream (e.g. to flip a byte in transit or to stall).
    /// Null in production.
    /// </summary>
    public Func<Stream, Stream>? TransportWrapper { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field out of range.</summary>
    public void Validate()
    {
        Check(DowntimeTargetMs is >= 0.1 and <= 60_000, nameof(DowntimeTargetMs), DowntimeTargetMs);
        Check(LinkBandwidthBytesPerSecond >= 0, nameof(LinkBandwidthBytesPerSecond), LinkBandwidthBytesPerSecond);
        Check(Enum.IsDefined(Compression), nameof(Compression), Compression);
        Check(MaxRounds is >= 1 and <= 100_000, nameof(MaxRounds), MaxRounds);
        Check(MaxPreCopyMs is >= 1 and <= 86_400_000, nameof(MaxPreCopyMs), MaxPreCopyMs);
        Check(Enum.IsDefined(LimitAction), nameof(LimitAction), LimitAction);
        Check(MaxPagesPerFrame is >= 1 and <= 1024, nameof(MaxPagesPerFrame), MaxPagesPerFrame);
        Check(SwitchoverOverheadMs is >= 0 and <= 1000, nameof(SwitchoverOverheadMs), SwitchoverOverheadMs);
        Check(ConnectTimeoutMs is >= 1 and <= 600_000, nameof(ConnectTimeoutMs), ConnectTimeoutMs);
        Check(AckTimeoutMs is >= 1 and <= 600_000, nameof(AckTimeoutMs), AckTimeoutMs);
        Check(SocketBufferBytes is >= 64 << 10 and <= 256 << 20, nameof(SocketBufferBytes), SocketBufferBytes);
        Check(MigrationChannels is >= 1 and <= MaxMigrationChannels, nameof(MigrationChannels), MigrationChannels);
        Check(PostCopyTimeoutMs is >= 1 and <= 86_400_000, nameof(PostCopyTimeoutMs), PostCopyTimeoutMs);
        if (PostCopy && MigrationChannels > 1)
            throw new ArgumentException($"MigrationOptions.PostCopy cannot be combined with {MigrationChannels} migration channels: QEMU 7.2's post-copy does not work with multifd.", nameof(PostCopy));
        ArgumentNullException.ThrowIfNull(PreLastCopy);
        PreLastCopy.Validate();
    }

    /// <summary>The failure of a pre-copy that hit <paramref name="limit"/> with <see cref="PreCopyLimitAction.Fail"/>: says which
    /// limit, its value, who set it, and how far pre-copy got.</summary>
    internal MigrationFailedException LimitFailure(SwitchoverReason limit, int rounds, double elapsedMs, double estimatedFinalCopyMs, double downtimeTargetMs, string clock = "")
    {
        var which = limit == SwitchoverReason.RoundLimit
            ? string.Create(CultureInfo.InvariantCulture, $"round limit ({MaxRounds} rounds")
            : string.Create(CultureInfo.InvariantCulture, $"time limit ({MaxPreCopyMs:0} ms");
        var source = LimitSource is null ? "" : $", {LimitSource}";
        return new MigrationFailedException(
            MigrationFailureKind.DidNotConverge,
            string.Create(CultureInfo.InvariantCulture,
                $"pre-copy aborted at its {which}{source}, on limit: abort) after {rounds} rounds and {elapsedMs:0} ms{clock}: estimated final copy {estimatedFinalCopyMs:0.0} ms > target {downtimeTargetMs} ms; the VM runs on the source"));
    }

    private static void Check(bool ok, string name, object value)
    {
        if (!ok)
            throw new ArgumentException($"MigrationOptions.{name} is out of range: {value}.", name);
    }
}
