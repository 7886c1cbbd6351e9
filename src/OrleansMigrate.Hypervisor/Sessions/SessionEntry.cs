namespace OrleansMigrate.Hypervisor.Sessions;

/// <summary>State and counters of one session.</summary>
/// <param name="State">Tracking state.</param>
/// <param name="Packets">Packets seen in both directions.</param>
/// <param name="Bytes">Bytes seen in both directions.</param>
/// <param name="LastSeenTicks">When the last packet was seen, in <see cref="TimeProvider.GetTimestamp"/> ticks of the owning host.</param>
public readonly record struct SessionEntry(SessionState State, ulong Packets, ulong Bytes, long LastSeenTicks)
{
    /// <summary>
    /// Set when the session is a real conntrack entry of the host (the <c>conntrack</c> sessions backend): what the
    /// destination needs to create the entry again. Such entries carry no counters (<see cref="Packets"/>,
    /// <see cref="Bytes"/> and <see cref="LastSeenTicks"/> are 0); null for the simulated table.
    /// </summary>
    public ConntrackSessionDetail? Conntrack { get; init; }
}

/// <summary>The conntrack fields a session record carries when the table is backed by the host's conntrack (zone 0,
/// no NAT: the reply tuple is the original one reversed).</summary>
/// <param name="Status"><c>IPS_*</c> status bits as read.</param>
/// <param name="TimeoutSeconds">Seconds the entry had left when read.</param>
/// <param name="Mark">Connection mark.</param>
/// <param name="Tcp">TCP tracking state; null for UDP and ICMP.</param>
public readonly record struct ConntrackSessionDetail(uint Status, uint TimeoutSeconds, uint Mark, Conntrack.ConntrackTcpInfo? Tcp);
