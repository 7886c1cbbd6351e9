namespace OrleansMigrate.Hypervisor.Sessions;

/// <summary>State and counters of one session.</summary>
/// <param name="State">Tracking state.</param>
/// <param name="Packets">Packets seen in both directions.</param>
/// <param name="Bytes">Bytes seen in both directions.</param>
/// <param name="LastSeenTicks">When the last packet was seen, in <see cref="TimeProvider.GetTimestamp"/> ticks of the owning host.</param>
public readonly record struct SessionEntry(SessionState State, ulong Packets, ulong Bytes, long LastSeenTicks);
