namespace OrleansMigrate.Hypervisor.Sessions.Conntrack;

/// <summary>
/// ctnetlink message layout (<c>linux/netfilter/nfnetlink_conntrack.h</c>): building the requests this backend sends
/// and parsing the entries the kernel reports, in network byte order where the kernel uses it.
/// </summary>
internal static class ConntrackMessages
{
    public const byte AfInet = 2;
    public const int SubsystemConntrack = 1;
    public const int MsgNew = 0;
    public const int MsgGet = 1;
    public const int MsgDelete = 2;

    public const ushort TypeNew = (SubsystemConntrack << 8) | MsgNew;
    public const ushort TypeGet = (SubsystemConntrack << 8) | MsgGet;
    public const ushort TypeDelete = (SubsystemConntrack << 8) | MsgDelete;

    // enum ctattr_type
    public const int CtaTupleOrig = 1;
    public const int CtaTupleReply = 2;
    public const int CtaStatus = 3;
    public const int CtaProtoinfo = 4;
    public const int CtaTimeout = 7;
    public const int CtaMark = 8;
    public const int CtaId = 12;
    public const int CtaZone = 18;

    // enum ctattr_tuple / ctattr_ip / ctattr_l4proto
    public const int CtaTupleIp = 1;
    public const int CtaTupleProto = 2;
    public const int CtaIpV4Src = 1;
    public const int CtaIpV4Dst = 2;
    public const int CtaProtoNum = 1;
    public const int CtaProtoSrcPort = 2;
    public const int CtaProtoDstPort = 3;
    public const int CtaProtoIcmpId = 4;
    public const int CtaProtoIcmpType = 5;
    public const int CtaProtoIcmpCode = 6;

    // enum ctattr_protoinfo / ctattr_protoinfo_tcp
    public const int CtaProtoinfoTcp = 1;
    public const int CtaProtoinfoTcpState = 1;
    public const int CtaProtoinfoTcpWscaleOriginal = 2;
    public const int CtaProtoinfoTcpWscaleReply = 3;
    public const int CtaProtoinfoTcpFlagsOriginal = 4;
    public const int CtaProtoinfoTcpFlagsReply = 5;

    /// <summary>Appends a create-or-update request for <paramref name="entry"/> (<c>IPCTNL_MSG_CT_NEW</c>,
    /// <c>NLM_F_CREATE</c>, an ack asked for). Only the settable status bits are sent.</summary>
    public static void AppendCreate(NetlinkMessageBuilder builder, ConntrackEntry entry, uint sequence, bool exclusive)
    {
        var flags = (ushort)(Netlink.FlagRequest | Netlink.FlagAck | Netlink.FlagCreate | (exclusive ? Netlink.FlagExcl : 0));
        var start = builder.BeginMessage(TypeNew, flags, sequence, AfInet);
        AppendTuple(builder, CtaTupleOrig, entry.Original);
        AppendTuple(builder, CtaTupleReply, entry.Reply);
        // The kernel marks an entry made over ctnetlink CONFIRMED before it applies CTA_STATUS, and refuses (EBUSY) a
        // status that would clear that bit: it is sent set.
        builder.PutU32Be(CtaStatus, (entry.Status & ConntrackEntry.SettableStatus) | ConntrackEntry.StatusConfirmed);
        builder.PutU32Be(CtaTimeout, entry.TimeoutSeconds);
        builder.PutU32Be(CtaMark, entry.Mark);
        if (entry.Zone != 0)
            builder.PutU16Be(CtaZone, entry.Zone);
        if (entry.Tcp is { } tcp)
        {
            var info = builder.BeginNested(CtaProtoinfo);
            var t = builder.BeginNested(CtaProtoinfoTcp);
            builder.PutU8(CtaProtoinfoTcpState, tcp.State);
            // struct nf_ct_tcp_flags { u8 flags; u8 mask; }: every bit replaced. Flags go before the scales: the
            // kernel applies a window scale only when both sides' WINDOW_SCALE flag is set.
            builder.PutBytes(CtaProtoinfoTcpFlagsOriginal, [tcp.FlagsOriginal, 0xFF]);
            builder.PutBytes(CtaProtoinfoTcpFlagsReply, [tcp.FlagsReply, 0xFF]);
            builder.PutU8(CtaProtoinfoTcpWscaleOriginal, tcp.WindowScaleOriginal);
            builder.PutU8(CtaProtoinfoTcpWscaleReply, tcp.WindowScaleReply);
            builder.EndNested(t);
            builder.EndNested(info);
        }

        builder.EndMessage(start);
    }

    /// <summary>Appends a request naming one entry by its original tuple: <c>IPCTNL_MSG_CT_GET</c> (no ack: the reply
    /// is the entry or an error) or <c>IPCTNL_MSG_CT_DELETE</c> (ack asked for).</summary>
    public static void AppendByTuple(NetlinkMessageBuilder builder, ushort type, ConntrackTuple original, ushort zone, uint sequence)
    {
        var flags = (ushort)(Netlink.FlagRequest | (type == TypeDelete ? Netlink.FlagAck : 0));
        var start = builder.BeginMessage(type, flags, sequence, AfInet);
        AppendTuple(builder, CtaTupleOrig, original);
        if (zone != 0)
            builder.PutU16Be(CtaZone, zone);
        builder.EndMessage(start);
    }

    /// <summary>Appends a dump request of the IPv4 table.</summary>
    public static void AppendDump(NetlinkMessageBuilder builder, uint sequence)
    {
        var start = builder.BeginMessage(TypeGet, Netlink.FlagRequest | Netlink.FlagDump, sequence, AfInet);
        builder.EndMessage(start);
    }

    public static void AppendTuple(NetlinkMessageBuilder builder, int type, in ConntrackTuple tuple)
    {
        var outer = builder.BeginNested(type);
        var ip = builder.BeginNested(CtaTupleIp);
        builder.PutU32Be(CtaIpV4Src, tuple.Source);
        builder.PutU32Be(CtaIpV4Dst, tuple.Destination);
        builder.EndNested(ip);
        var proto = builder.BeginNested(CtaTupleProto);
        builder.PutU8(CtaProtoNum, tuple.Protocol);
        if (tuple.Protocol == ConntrackTuple.Icmp)
        {
            builder.PutU16Be(CtaProtoIcmpId, tuple.IcmpId);
            builder.PutU8(CtaProtoIcmpType, tuple.IcmpType);
            builder.PutU8(CtaProtoIcmpCode, tuple.IcmpCode);
        }
        else if (tuple.Protocol is ConntrackTuple.Tcp or ConntrackTuple.Udp)
        {
            builder.PutU16Be(CtaProtoSrcPort, tuple.SourcePort);
            builder.PutU16Be(CtaProtoDstPort, tuple.DestinationPort);
        }

        builder.EndNested(proto);
        builder.EndNested(outer);
    }

    /// <summary>
    /// Parses a conntrack message payload (<c>nfgenmsg</c> then attributes). Returns null for a family other than IPv4
    /// (IPv6 entries are not handled by this backend). Throws <see cref="NetlinkFormatException"/> naming the field when
    /// the message is malformed or lacks a tuple.
    /// </summary>
    public static ConntrackEntry? ParseEntry(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < Netlink.NfGenLength)
            throw new NetlinkFormatException($"conntrack message: nfgenmsg truncated ({payload.Length} bytes, needs 4)");
        if (payload[0] != AfInet)
            return null;
        var top = NetlinkAttributes.Parse(payload[Netlink.NfGenLength..], "conntrack entry");
        var original = ParseTuple(top, CtaTupleOrig, "CTA_TUPLE_ORIG");
        var reply = top.Has(CtaTupleReply) ? ParseTuple(top, CtaTupleReply, "CTA_TUPLE_REPLY") : original.Inverse() ?? original;
        ConntrackTcpInfo? tcp = null;
        if (top.Has(CtaProtoinfo))
        {
            var info = top.Nested(CtaProtoinfo, "CTA_PROTOINFO");
            if (info.Has(CtaProtoinfoTcp))
            {
                var t = info.Nested(CtaProtoinfoTcp, "CTA_PROTOINFO_TCP");
                tcp = new ConntrackTcpInfo(
                    t.Has(CtaProtoinfoTcpState) ? t.U8(CtaProtoinfoTcpState, "CTA_PROTOINFO_TCP_STATE") : (byte)0,
                    t.Has(CtaProtoinfoTcpWscaleOriginal) ? t.U8(CtaProtoinfoTcpWscaleOriginal, "CTA_PROTOINFO_TCP_WSCALE_ORIGINAL") : (byte)0,
                    t.Has(CtaProtoinfoTcpWscaleReply) ? t.U8(CtaProtoinfoTcpWscaleReply, "CTA_PROTOINFO_TCP_WSCALE_REPLY") : (byte)0,
                    t.Has(CtaProtoinfoTcpFlagsOriginal) ? t.U8(CtaProtoinfoTcpFlagsOriginal, "CTA_PROTOINFO_TCP_FLAGS_ORIGINAL") : (byte)0,
                    t.Has(CtaProtoinfoTcpFlagsReply) ? t.U8(CtaProtoinfoTcpFlagsReply, "CTA_PROTOINFO_TCP_FLAGS_REPLY") : (byte)0);
            }
        }

        return new ConntrackEntry(
            original,
            reply,
            top.Has(CtaStatus) ? top.U32Be(CtaStatus, "CTA_STATUS") : 0,
            top.Has(CtaTimeout) ? top.U32Be(CtaTimeout, "CTA_TIMEOUT") : 0,
            top.Has(CtaMark) ? top.U32Be(CtaMark, "CTA_MARK") : 0,
            top.Has(CtaZone) ? top.U16Be(CtaZone, "CTA_ZONE") : (ushort)0,
            tcp,
            top.Has(CtaId) ? top.U32Be(CtaId, "CTA_ID") : 0);
    }

    private static ConntrackTuple ParseTuple(NetlinkAttributes top, int type, string name)
    {
        var tuple = top.Nested(type, name);
        var ip = tuple.Nested(CtaTupleIp, $"{name}.CTA_TUPLE_IP");
        var proto = tuple.Nested(CtaTupleProto, $"{name}.CTA_TUPLE_PROTO");
        var source = ip.U32Be(CtaIpV4Src, $"{name}.CTA_IP_V4_SRC");
        var destination = ip.U32Be(CtaIpV4Dst, $"{name}.CTA_IP_V4_DST");
        var number = proto.U8(CtaProtoNum, $"{name}.CTA_PROTO_NUM");
        return number switch
        {
            ConntrackTuple.Icmp => new ConntrackTuple(source, destination, number,
                IcmpId: proto.U16Be(CtaProtoIcmpId, $"{name}.CTA_PROTO_ICMP_ID"),
                IcmpType: proto.U8(CtaProtoIcmpType, $"{name}.CTA_PROTO_ICMP_TYPE"),
                IcmpCode: proto.U8(CtaProtoIcmpCode, $"{name}.CTA_PROTO_ICMP_CODE")),
            ConntrackTuple.Tcp or ConntrackTuple.Udp => new ConntrackTuple(source, destination, number,
                proto.U16Be(CtaProtoSrcPort, $"{name}.CTA_PROTO_SRC_PORT"),
                proto.U16Be(CtaProtoDstPort, $"{name}.CTA_PROTO_DST_PORT")),
            _ => new ConntrackTuple(source, destination, number),
        };
    }
}
