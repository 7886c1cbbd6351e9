namespace OrleansMigrate.Hypervisor.Sessions;

/// <summary>The 5-tuple that identifies a connection-tracking session (IPv4, host byte order).</summary>
/// <param name="SourceAddress">IPv4 source address.</param>
/// <param name="DestinationAddress">IPv4 destination address.</param>
/// <param name="SourcePort">Source port.</param>
/// <param name="DestinationPort">Destination port.</param>
/// <param name="Protocol">IP protocol number (6 TCP, 17 UDP, 1 ICMP).</param>
public readonly record struct FlowKey(uint SourceAddress, uint DestinationAddress, ushort SourcePort, ushort DestinationPort, byte Protocol);
