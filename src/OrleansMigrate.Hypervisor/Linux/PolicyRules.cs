using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using OrleansMigrate.Hypervisor.Sessions.Conntrack;

namespace OrleansMigrate.Hypervisor.Linux;

/// <summary>
/// IPv4 policy routing rules <c>to ADDR/32 lookup TABLE priority P</c> added and deleted with one rtnetlink message each
/// (<c>RTM_NEWRULE</c> / <c>RTM_DELRULE</c>, acknowledged), in a named network namespace or this process's own — what
/// <c>ip rule add|del</c> does, without starting a process (about a millisecond instead of several). A host agent uses it
/// to switch a staged relay on the instant its VM pauses.
/// </summary>
public static class PolicyRules
{
    private const ushort RtmNewRule = 32;
    private const ushort RtmDelRule = 33;
    private const byte AfInet = 2;
    private const byte FrActToTbl = 1;
    private const ushort FraDst = 1;
    private const ushort FraPriority = 6;
    private const ushort FraTable = 15;
    private const int Eexist = 17;
    private const int Enoent = 2;

    /// <summary>Adds the rule; false when it was there already (the kernel answered EEXIST). Throws naming the errno otherwise.</summary>
    public static bool Add(string? ns, IPAddress to, int table, int priority) => Change(ns, to, table, priority, add: true);

    /// <summary>Deletes the rule; false when it was not there (ENOENT). Throws naming the errno otherwise.</summary>
    public static bool Delete(string? ns, IPAddress to, int table, int priority) => Change(ns, to, table, priority, add: false);

    /// <summary>Runs the whole path once (socket, request, acknowledgement) on a rule that cannot exist (<c>to 0.0.0.0/32</c>
    /// lookup <paramref name="table"/>): the first switch that matters then costs what the later ones do, not the JIT's and
    /// the P/Invoke stubs' first-call time. Changes nothing; false when this process cannot open the socket.</summary>
    public static bool Warm(string? ns, int table, int priority)
    {
        try
        {
            Delete(ns, IPAddress.Any, table, priority);
            return true;
        }
        catch (ConntrackException)
        {
            return false;
        }
    }

    /// <summary>The request: header, <c>fib_rule_hdr</c>, FRA_DST, FRA_PRIORITY, FRA_TABLE.</summary>
    private static byte[] Message(IPAddress to, int table, int priority, bool add, uint sequence)
    {
        ArgumentNullException.ThrowIfNull(to);
        if (to.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException($"to: '{to}' is not an IPv4 address", nameof(to));
        ArgumentOutOfRangeException.ThrowIfLessThan(table, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(priority);
        var m = new byte[Netlink.HeaderLength + 12 + 8 + 8 + 8];
        var s = m.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, (uint)m.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(s[4..], add ? RtmNewRule : RtmDelRule);
        BinaryPrimitives.WriteUInt16LittleEndian(s[6..], (ushort)(Netlink.FlagRequest | Netlink.FlagAck | (add ? Netlink.FlagCreate | Netlink.FlagExcl : 0)));
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], sequence);
        // fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action, flags.
        s[16] = AfInet;
        s[17] = 32;
        s[20] = table < 256 ? (byte)table : (byte)0;
        s[23] = FrActToTbl;
        Attribute(s[28..], FraDst, to.GetAddressBytes());
        Span<byte> u32 = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(u32, (uint)priority);
        Attribute(s[36..], FraPriority, u32);
        BinaryPrimitives.WriteUInt32LittleEndian(u32, (uint)table);
        Attribute(s[44..], FraTable, u32);
        return m;
    }

    private static void Attribute(Span<byte> at, ushort type, ReadOnlySpan<byte> value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(at, (ushort)(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(at[2..], type);
        value.CopyTo(at[4..]);
    }

    private static bool Change(string? ns, IPAddress to, int table, int priority, bool add)
    {
        var sequence = (uint)Environment.TickCount;
        var request = Message(to, table, priority, add, sequence);
        using var socket = NetlinkSocket.Open(ns, [], 64 * 1024, 64 * 1024, NetlinkSocket.NetlinkRoute);
        socket.Send(request);
        var buffer = new byte[8192];
        var deadline = Environment.TickCount64 + 2000;
        while (Environment.TickCount64 < deadline)
        {
            var n = socket.Receive(buffer, TimeSpan.FromMilliseconds(Math.Max(1, deadline - Environment.TickCount64)));
            if (n <= 0)
                break;
            for (var offset = 0; offset + 16 <= n;)
            {
                var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(offset));
                var type = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(offset + 4));
                var seq = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(offset + 8));
                if (length < 16 || offset + length > n)
                    break;
                if (type == Netlink.MessageError && seq == sequence && length >= 20)
                {
                    var errno = -BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(offset + 16));
                    return errno switch
                    {
                        0 => true,
                        Eexist when add => false,
                        Enoent when !add => false,
                        _ => throw new ConntrackException(
                            $"the kernel refused to {(add ? "add" : "delete")} the rule 'to {to}/32 lookup {table} priority {priority}'{(ns is null ? "" : $" in network namespace '{ns}'")} (errno {errno})", errno),
                    };
                }

                offset += Netlink.Align(length);
            }
        }

        throw new ConntrackException($"the kernel did not acknowledge the rule 'to {to}/32 lookup {table} priority {priority}' within 2 s", 0);
    }
}
