using System.Threading.Channels;

namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>Settings for <see cref="QmpClient"/>; checked by <see cref="Validate"/> when a client is created.</summary>
public sealed class QmpClientOptions
{
    public static readonly TimeSpan DefaultCommandTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(10);
    public const int DefaultEventCapacity = 1024;
    public const int DefaultReadBufferBytes = 64 * 1024;

    /// <summary>Per-command reply timeout unless the call gives one; positive or <see cref="Timeout.InfiniteTimeSpan"/>. Default 30 s.</summary>
    public TimeSpan CommandTimeout { get; set; } = DefaultCommandTimeout;

    /// <summary>Bound on each handshake step: socket connect, greeting, <c>qmp_capabilities</c>; positive or infinite. Default 10 s.
    /// QEMU serves one QMP client per monitor: a second client connects but is not greeted until the first leaves.</summary>
    public TimeSpan ConnectTimeout { get; set; } = DefaultConnectTimeout;

    /// <summary>Capabilities to enable in <c>qmp_capabilities</c>, e.g. <c>oob</c>; the server rejects ones its greeting did not offer.</summary>
    public IList<string> Capabilities { get; } = new List<string>();

    /// <summary>Events buffered for <see cref="QmpClient.Events"/>; 1..1,000,000. Default 1024.</summary>
    public int EventCapacity { get; set; } = DefaultEventCapacity;

    /// <summary>
    /// What happens when the event buffer is full. Default <see cref="BoundedChannelFullMode.DropOldest"/>: a slow
    /// or absent event reader never delays command replies. <see cref="BoundedChannelFullMode.Wait"/> loses no
    /// event but stalls the read loop — and so every command reply — until the reader catches up.
    /// </summary>
    public BoundedChannelFullMode EventFullMode { get; set; } = BoundedChannelFullMode.DropOldest;

    /// <summary>Largest frame accepted, in bytes; 1 KiB..1 GiB. Default 16 MiB.</summary>
    public int MaxFrameBytes { get; set; } = QmpFramer.DefaultMaxFrameBytes;

    /// <summary>Bytes requested per socket read; 256..16 MiB. Default 64 KiB.</summary>
    public int ReadBufferBytes { get; set; } = DefaultReadBufferBytes;

    /// <summary>Clock for timeouts; tests may steer it.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <exception cref="ArgumentOutOfRangeException">A setting is outside its documented range.</exception>
    /// <summary>
    /// Runs a waiting event reader's continuation on the read loop itself instead of queueing it to the thread pool:
    /// one hop less between QEMU emitting an event and the reader reacting (the pre-switchover event is inside the
    /// downtime). Only for readers that do little work per event; off by default.
    /// </summary>
    public bool InlineEventDelivery { get; set; }

    public void Validate()
    {
        ValidateTimeout(CommandTimeout, nameof(CommandTimeout));
        ValidateTimeout(ConnectTimeout, nameof(ConnectTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(EventCapacity, 1, nameof(EventCapacity));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(EventCapacity, 1_000_000, nameof(EventCapacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxFrameBytes, 1024, nameof(MaxFrameBytes));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxFrameBytes, 1 << 30, nameof(MaxFrameBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReadBufferBytes, 256, nameof(ReadBufferBytes));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ReadBufferBytes, 16 * 1024 * 1024, nameof(ReadBufferBytes));
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
        if (!Enum.IsDefined(EventFullMode))
            throw new ArgumentOutOfRangeException(nameof(EventFullMode), EventFullMode, "Not a BoundedChannelFullMode.");
        foreach (var capability in Capabilities)
            ArgumentException.ThrowIfNullOrWhiteSpace(capability, nameof(Capabilities));
    }

    internal static void ValidateTimeout(TimeSpan timeout, string name)
    {
        if (timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(name, timeout, "Must be positive or Timeout.InfiniteTimeSpan.");
    }
}
