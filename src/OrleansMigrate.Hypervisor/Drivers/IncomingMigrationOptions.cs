namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Destination-side settings of one live migration.</summary>
public sealed record IncomingMigrationOptions
{
    /// <summary>IP address to listen on; "127.0.0.1" by default, "0.0.0.0" or "::" for any.</summary>
    public string ListenAddress { get; init; } = "127.0.0.1";

    /// <summary>TCP port, 0 = an ephemeral port chosen by the OS (reported in <see cref="IIncomingMigration.Endpoint"/>).</summary>
    public int Port { get; init; }

    /// <summary>
    /// Host name or address to report in the endpoint when <see cref="ListenAddress"/> is a wildcard;
    /// null reports the bound address.
    /// </summary>
    public string? AdvertisedHost { get; init; }

    /// <summary>How long to wait for the source to connect, in ms (1..86400000); then the incoming side fails.</summary>
    public int AcceptTimeoutMs { get; init; } = 60_000;

    /// <summary>Frames buffered between the receive loop and the decompress/apply worker (1..1024).</summary>
    public int ApplyQueueFrames { get; init; } = 8;

    /// <summary>Kernel socket receive/send buffer size in bytes (64 KiB..256 MiB).</summary>
    public int SocketBufferBytes { get; init; } = 4 << 20;

    /// <summary>
    /// Check the guest against the source's state at pause right after resume, before the guest's own
    /// workload writes (simulated driver only; costs one pass over guest memory, outside the downtime).
    /// </summary>
    public bool VerifyConsistency { get; init; }

    /// <summary>
    /// Streams the source will send on (1..<see cref="MigrationOptions.MaxMigrationChannels"/>), the same count as its
    /// <see cref="MigrationOptions.MigrationChannels"/>: 1 is QEMU's classic single stream, more is QEMU multifd, which QEMU
    /// needs enabled with the same channel count on both sides. The simulated driver's own engine ignores it.
    /// </summary>
    public int MigrationChannels { get; init; } = 1;

    /// <summary>Prepares the destination for post-copy (QEMU's <c>postcopy-ram</c>, needed on both sides before the stream
    /// starts), for a source whose <see cref="MigrationOptions.PostCopy"/> is set. The simulated driver ignores it.</summary>
    public bool PostCopy { get; init; }

    /// <summary>Test seam: wraps the accepted transport stream. Null in production.</summary>
    public Func<Stream, Stream>? TransportWrapper { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field out of range.</summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ListenAddress);
        if (Port is < 0 or > 65_535)
            throw new ArgumentException($"IncomingMigrationOptions.Port out of range: {Port}.", nameof(Port));
        if (AcceptTimeoutMs is < 1 or > 86_400_000)
            throw new ArgumentException($"IncomingMigrationOptions.AcceptTimeoutMs out of range: {AcceptTimeoutMs}.", nameof(AcceptTimeoutMs));
        if (ApplyQueueFrames is < 1 or > 1024)
            throw new ArgumentException($"IncomingMigrationOptions.ApplyQueueFrames out of range: {ApplyQueueFrames}.", nameof(ApplyQueueFrames));
        if (SocketBufferBytes is < 64 << 10 or > 256 << 20)
            throw new ArgumentException($"IncomingMigrationOptions.SocketBufferBytes out of range: {SocketBufferBytes}.", nameof(SocketBufferBytes));
        if (MigrationChannels is < 1 or > MigrationOptions.MaxMigrationChannels)
            throw new ArgumentException($"IncomingMigrationOptions.MigrationChannels out of range: {MigrationChannels}.", nameof(MigrationChannels));
    }
}
