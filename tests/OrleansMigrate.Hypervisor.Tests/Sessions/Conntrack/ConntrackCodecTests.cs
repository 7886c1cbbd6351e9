using System.Buffers.Binary;
using OrleansMigrate.Hypervisor.Framing;
using OrleansMigrate.Hypervisor.Sessions;
using OrleansMigrate.Hypervisor.Sessions.Conntrack;

namespace OrleansMigrate.Hypervisor.Tests.Sessions.Conntrack;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class ConntrackCodecTests
{
    private static readonly ConntrackTuple TcpTuple = ConntrackTuple.Ports(ConntrackTuple.Tcp, "172.30.0.10", 40000, "10.1.0.5", 7008);

    private static ConntrackEntry TcpEntry => new(TcpTuple, TcpTuple.Inverse()!.Value,
        ConntrackEntry.StatusAssured | ConntrackEntry.StatusSeenReply | ConntrackEntry.StatusConfirmed, 431999, 0xDEADBEEF, 0,
        new ConntrackTcpInfo(ConntrackTcpInfo.Established, 7, 9, 0x23, 0x03), 1234);

    [Fact]
    public void A_built_create_message_parses_back_to_the_entry()
    {
        var builder = new NetlinkMessageBuilder(16);
        ConntrackMessages.AppendCreate(builder, TcpEntry, 42, exclusive: false);
        var icmpTuple = new ConntrackTuple(1, 2, ConntrackTuple.Icmp, IcmpId: 0xBEEF, IcmpType: 8, IcmpCode: 0);
        var icmp = new ConntrackEntry(icmpTuple, icmpTuple.Inverse()!.Value, ConntrackEntry.StatusConfirmed, 30, Zone: 3);
        ConntrackMessages.AppendCreate(builder, icmp, 43, exclusive: true);
        Assert.Equal(0, builder.Length % 4);

        var reader = new NetlinkMessageReader(builder.Written);
        Assert.True(reader.TryRead(out var first));
        Assert.Equal(ConntrackMessages.TypeNew, first.Type);
        Assert.Equal(42u, first.Sequence);
        Assert.Equal(Netlink.FlagRequest | Netlink.FlagAck | Netlink.FlagCreate, first.Flags);
        var parsed = ConntrackMessages.ParseEntry(first.Payload);
        // The id is the kernel's and is not sent; the status goes out masked to what ctnetlink accepts, plus CONFIRMED.
        Assert.Equal(TcpEntry with { Id = 0 }, parsed);

        Assert.True(reader.TryRead(out var second));
        Assert.Equal(43u, second.Sequence);
        Assert.NotEqual(0, second.Flags & Netlink.FlagExcl);
        Assert.Equal(icmp, ConntrackMessages.ParseEntry(second.Payload));
        Assert.False(reader.TryRead(out _));
    }

    [Fact]
    public void Attributes_use_network_byte_order_nesting_flags_and_zero_padding()
    {
        var builder = new NetlinkMessageBuilder();
        var start = builder.BeginMessage(ConntrackMessages.TypeGet, Netlink.FlagRequest, 7, ConntrackMessages.AfInet);
        ConntrackMessages.AppendTuple(builder, ConntrackMessages.CtaTupleOrig, TcpTuple);
        builder.EndMessage(start);
        var bytes = builder.Written.ToArray();
        Assert.Equal((uint)bytes.Length, BinaryPrimitives.ReadUInt32LittleEndian(bytes));
        var outerType = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(22));
        Assert.Equal(ConntrackMessages.CtaTupleOrig | Netlink.AttributeNested, outerType);
        // CTA_IP_V4_SRC: 172.30.0.10 big-endian right after the two nested headers.
        Assert.Equal(new byte[] { 172, 30, 0, 10 }, bytes[32..36]);
        // CTA_PROTO_NUM (1 byte) is padded to 4 with zeros.
        var protoNum = bytes.AsSpan().IndexOf(new byte[] { 5, 0, ConntrackMessages.CtaProtoNum, 0, ConntrackTuple.Tcp });
        Assert.True(protoNum > 0);
        Assert.Equal(new byte[] { 0, 0, 0 }, bytes[(protoNum + 5)..(protoNum + 8)]);
    }

    [Fact]
    public void Malformed_messages_and_attributes_are_rejected_with_the_field_named()
    {
        var builder = new NetlinkMessageBuilder();
        ConntrackMessages.AppendCreate(builder, TcpEntry, 1, false);
        var good = builder.Written.ToArray();

        var longer = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(longer, (uint)good.Length + 4);
        Assert.Contains("out of range", Assert.Throws<NetlinkFormatException>(() => ReadAll(longer)).Message);
        Assert.Contains("truncated", Assert.Throws<NetlinkFormatException>(() => ReadAll(good[..10])).Message);
        var tiny = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(tiny, 8);
        Assert.Throws<NetlinkFormatException>(() => ReadAll(tiny));

        var payload = good[Netlink.HeaderLength..];
        // First attribute (CTA_TUPLE_ORIG) claims more bytes than the message holds.
        var overlong = (byte[])payload.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(overlong.AsSpan(4), 60000);
        Assert.Contains("conntrack entry", Assert.Throws<NetlinkFormatException>(() => ConntrackMessages.ParseEntry(overlong)).Message);
        var undersized = (byte[])payload.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(undersized.AsSpan(4), 2);
        Assert.Throws<NetlinkFormatException>(() => ConntrackMessages.ParseEntry(undersized));
        Assert.Contains("nfgenmsg", Assert.Throws<NetlinkFormatException>(() => ConntrackMessages.ParseEntry(payload[..2])).Message);

        // No original tuple at all.
        Assert.Contains("CTA_TUPLE_ORIG", Assert.Throws<NetlinkFormatException>(() => ConntrackMessages.ParseEntry(new byte[] { 2, 0, 0, 0 })).Message);

        // A tuple whose address attribute is too short: the field is named.
        var b2 = new NetlinkMessageBuilder();
        var s = b2.BeginMessage(ConntrackMessages.TypeNew, 0, 1, ConntrackMessages.AfInet);
        var o = b2.BeginNested(ConntrackMessages.CtaTupleOrig);
        var ip = b2.BeginNested(ConntrackMessages.CtaTupleIp);
        b2.PutU16Be(ConntrackMessages.CtaIpV4Src, 1);
        b2.PutU32Be(ConntrackMessages.CtaIpV4Dst, 2);
        b2.EndNested(ip);
        var proto = b2.BeginNested(ConntrackMessages.CtaTupleProto);
        b2.PutU8(ConntrackMessages.CtaProtoNum, ConntrackTuple.Udp);
        b2.EndNested(proto);
        b2.EndNested(o);
        b2.EndMessage(s);
        var ex = Assert.Throws<NetlinkFormatException>(() => ConntrackMessages.ParseEntry(b2.Written[Netlink.HeaderLength..].ToArray()));
        Assert.Contains("CTA_TUPLE_ORIG.CTA_IP_V4_SRC", ex.Message);

        // IPv6 entries are passed over, not misread.
        Assert.Null(ConntrackMessages.ParseEntry(new byte[] { 10, 0, 0, 0 }));
    }

    [Fact]
    public void Session_records_carry_conntrack_entries_and_leave_the_simulated_format_unchanged()
    {
        var (key, session) = ConntrackSessionMap.ToSession(TcpEntry);
        Assert.Equal(SessionState.Established, session.State);
        var record = new SessionDeltaRecord(key, false, session);
        var wire = new byte[SessionDeltaCodec.RecordSize];
        SessionDeltaCodec.Write(wire, record);
        Assert.Equal(1, wire[3]);
        var back = SessionDeltaCodec.Read(wire);
        Assert.Equal(record, back);
        Assert.Equal(TcpEntry with { Id = 0 }, ConntrackSessionMap.ToEntry(back.Key, back.Entry));

        var icmpTuple = new ConntrackTuple(1, 2, ConntrackTuple.Icmp, IcmpId: 0xBEEF, IcmpType: 8, IcmpCode: 0);
        var icmp = new ConntrackEntry(icmpTuple, icmpTuple.Inverse()!.Value, 0, 30);
        var (ik, ie) = ConntrackSessionMap.ToSession(icmp);
        SessionDeltaCodec.Write(wire, new SessionDeltaRecord(ik, false, ie));
        var ib = SessionDeltaCodec.Read(wire);
        Assert.Equal(icmp, ConntrackSessionMap.ToEntry(ib.Key, ib.Entry));

        // The simulated record: byte 3 stays 0 and the counters are where they always were.
        var simulated = new SessionDeltaRecord(new FlowKey(1, 2, 3, 4, 6), false, new SessionEntry(SessionState.New, 5, 6, 7));
        SessionDeltaCodec.Write(wire, simulated);
        Assert.Equal(0, wire[3]);
        Assert.Equal(5ul, BinaryPrimitives.ReadUInt64LittleEndian(wire.AsSpan(16)));
        Assert.Equal(simulated, SessionDeltaCodec.Read(wire));

        var reserved = (byte[])wire.Clone();
        reserved[3] = 7;
        Assert.Throws<FrameFormatException>(() => SessionDeltaCodec.Read(reserved));
        SessionDeltaCodec.Write(wire, record);
        wire[37] = 1;
        Assert.Throws<FrameFormatException>(() => SessionDeltaCodec.Read(wire));
        Assert.Throws<ArgumentException>(() => ConntrackSessionMap.ToEntry(simulated.Key, simulated.Entry));
    }

    [Fact]
    public void Entries_that_cannot_be_carried_are_named_and_the_digest_ignores_the_time_left()
    {
        var nat = TcpEntry with { Reply = TcpTuple.Inverse()!.Value with { Source = 99 } };
        Assert.Equal(ConntrackSkipReason.Nat, ConntrackSessionMap.Check(nat));
        Assert.Equal(ConntrackSkipReason.Zone, ConntrackSessionMap.Check(TcpEntry with { Zone = 2 }));
        Assert.Throws<ArgumentException>(() => ConntrackSessionMap.ToSession(nat));

        var older = TcpEntry with { TimeoutSeconds = 5, Id = 9 };
        Assert.Equal(ConntrackSessionMap.Digest([TcpEntry]), ConntrackSessionMap.Digest([older]));
        Assert.NotEqual(ConntrackSessionMap.Digest([TcpEntry]), ConntrackSessionMap.Digest([TcpEntry with { Mark = 1 }]));
        var comparison = ConntrackSessionMap.Compare([TcpEntry], [TcpEntry with { Tcp = TcpEntry.Tcp!.Value with { State = 4 } }]);
        Assert.False(comparison.Consistent);
        Assert.Single(comparison.Different);
        Assert.True(ConntrackSessionMap.Compare([TcpEntry], [older]).Consistent);
    }

    [Fact]
    public void The_sessions_backend_option_is_validated()
    {
        new SessionsBackendOptions().Validate();
        new SessionsBackendOptions { Backend = "conntrack" }.Validate();
        Assert.Contains("Cloud:Sessions:Backend", Assert.Throws<ArgumentException>(() => new SessionsBackendOptions { Backend = "nfct" }.Validate()).Message);
        Assert.Contains("SyncIntervalMs", Assert.Throws<ArgumentException>(() => new SessionsBackendOptions { SyncIntervalMs = 0 }.Validate()).Message);
        Assert.Contains("EventBufferBytes", Assert.Throws<ArgumentException>(() => new SessionsBackendOptions { EventBufferBytes = 10 }.Validate()).Message);
    }

    private static void ReadAll(byte[] datagram)
    {
        var reader = new NetlinkMessageReader(datagram);
        while (reader.TryRead(out _))
        {
        }
    }
}
