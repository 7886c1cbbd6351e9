using System.Net;

namespace OrleansMigrate.Hypervisor.Sessions.Conntrack;

/// <summary>One direction of a conntrack entry (IPv4). Addresses in host byte order, as in <see cref="FlowKey"/>.</summary>
/// <param name="Protocol">IP protocol number: 6 TCP, 17 UDP, 1 ICMP (others are read with no ports).</param>
/// <param name="SourcePort">TCP/UDP source port (0 for ICMP).</param>
/// <param name="DestinationPort">TCP/UDP destination port (0 for ICMP).</param>
/// <param name="IcmpId">ICMP identifier (ICMP only).</param>
/// <param name="IcmpType">ICMP type (ICMP only).</param>
/// <param name="IcmpCode">ICMP code (ICMP only).</param>
public readonly record struct ConntrackTuple(uint Source, uint Destination, byte Protocol, ushort SourcePort = 0, ushort DestinationPort = 0,
    ushort IcmpId = 0, byte IcmpType = 0, byte IcmpCode = 0)
{
    public const byte Tcp = 6;
    public const byte Udp = 17;
    public const byte Icmp = 1;

    /// <summary>A TCP or UDP tuple from dotted addresses.</summary>
    public static ConntrackTuple Ports(byte protocol, string source, ushort sourcePort, string destination, ushort destinationPort) =>
        new(ConntrackAddress.Parse(source), ConntrackAddress.Parse(destination), protocol, sourcePort, destinationPort);

    /// <summary>Whether either address is <paramref name="address"/>.</summary>
    public bool Involves(uint address) => Source == address || Destination == address;

    /// <summary>The tuple a reply to this one carries when no NAT applies (addresses and ports swapped; an ICMP
    /// request type becomes its reply type). Null for an ICMP type that has no reply.</summary>
    public ConntrackTuple? Inverse()
    {
        if (Protocol != Icmp)
            return new ConntrackTuple(Destination, Source, Protocol, DestinationPort, SourcePort);
        byte? reply = IcmpType switch
        {
            8 => 0, 0 => 8, 13 => 14, 14 => 13, 15 => 16, 16 => 15, 17 => 18, 18 => 17, 10 => 9, 9 => 10,
            _ => null,
        };
        return reply is null ? null : new ConntrackTuple(Destination, Source, Protocol, IcmpId: IcmpId, IcmpType: reply.Value, IcmpCode: IcmpCode);
    }

    public override string ToString() => Protocol switch
    {
        Icmp => $"icmp {ConntrackAddress.Format(Source)} -> {ConntrackAddress.Format(Destination)} type {IcmpType} code {IcmpCode} id {IcmpId}",
        Tcp or Udp => $"{(Protocol == Tcp ? "tcp" : "udp")} {ConntrackAddress.Format(Source)}:{SourcePort} -> {ConntrackAddress.Format(Destination)}:{DestinationPort}",
        _ => $"proto {Protocol} {ConntrackAddress.Format(Source)} -> {ConntrackAddress.Format(Destination)}",
    };
}

/// <summary>TCP tracking state of an entry (<c>CTA_PROTOINFO_TCP</c>): what a destination needs so that packets
/// of the stream keep matching the entry with <c>nf_conntrack_tcp_loose=0</c>.</summary>
/// <param name="State">Kernel TCP conntrack state (<c>TCP_CONNTRACK_*</c>: 1 SYN_SENT, 2 SYN_RECV, 3 ESTABLISHED,
/// 4 FIN_WAIT, 5 CLOSE_WAIT, 6 LAST_ACK, 7 TIME_WAIT, 8 CLOSE, 9 SYN_SENT2).</param>
/// <param name="WindowScaleOriginal">Window scale seen from the originator (0..14).</param>
/// <param name="WindowScaleReply">Window scale seen from the replier (0..14).</param>
/// <param name="FlagsOriginal"><c>IP_CT_TCP_FLAG_*</c> bits of the originator side.</param>
/// <param name="FlagsReply"><c>IP_CT_TCP_FLAG_*</c> bits of the replier side.</param>
public readonly record struct ConntrackTcpInfo(byte State, byte WindowScaleOriginal, byte WindowScaleReply, byte FlagsOriginal, byte FlagsReply)
{
    public const byte Established = 3;
}

/// <summary>A conntrack entry as ctnetlink reports it, with what is needed to create it again elsewhere.</summary>
/// <param name="Original">The original-direction tuple (the key).</param>
/// <param name="Reply">The reply-direction tuple (differs from <see cref="ConntrackTuple.Inverse"/> under NAT).</param>
/// <param name="Status"><c>IPS_*</c> status bits (bit 1 SEEN_REPLY, bit 2 ASSURED, bit 3 CONFIRMED …).</param>
/// <param name="TimeoutSeconds">Seconds until the entry expires.</param>
/// <param name="Mark">Connection mark.</param>
/// <param name="Zone">Conntrack zone (0 is the default zone).</param>
/// <param name="Tcp">TCP tracking state; null for other protocols.</param>
/// <param name="Id">The kernel's entry id (not carried to a destination).</param>
public sealed record ConntrackEntry(ConntrackTuple Original, ConntrackTuple Reply, uint Status, uint TimeoutSeconds, uint Mark = 0,
    ushort Zone = 0, ConntrackTcpInfo? Tcp = null, uint Id = 0)
{
    public const uint StatusSeenReply = 1u << 1;
    public const uint StatusAssured = 1u << 2;
    public const uint StatusConfirmed = 1u << 3;

    /// <summary>Status bits ctnetlink lets a new entry carry (SEEN_REPLY, ASSURED); the rest are the kernel's.</summary>
    public const uint SettableStatus = StatusSeenReply | StatusAssured;

    /// <summary>Whether either direction's tuple has <paramref name="address"/> as source or destination.</summary>
    public bool Involves(uint address) => Original.Involves(address) || Reply.Involves(address);

    public override string ToString() =>
        $"{Original} status 0x{Status:x} timeout {TimeoutSeconds}s mark {Mark} zone {Zone}{(Tcp is { } t ? $" tcp-state {t.State}" : "")}";
}

/// <summary>IPv4 addresses as host-order <see cref="uint"/>, the form <see cref="FlowKey"/> uses.</summary>
public static class ConntrackAddress
{
    /// <summary>Parses a dotted IPv4 address; throws <see cref="ArgumentException"/> naming it otherwise.</summary>
    public static uint Parse(string address)
    {
        if (!IPAddress.TryParse(address, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new ArgumentException($"'{address}' is not an IPv4 address.", nameof(address));
        return From(ip);
    }

    public static uint From(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new ArgumentException($"{address} is not an IPv4 address.", nameof(address));
        Span<byte> b = stackalloc byte[4];
        address.TryWriteBytes(b, out _);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(b);
    }

    public static string Format(uint address) => $"{address >> 24}.{(address >> 16) & 0xFF}.{(address >> 8) & 0xFF}.{address & 0xFF}";
}
