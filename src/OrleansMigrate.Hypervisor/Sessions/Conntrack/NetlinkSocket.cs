using System.Runtime.InteropServices;
using OrleansMigrate.Hypervisor.Linux;

namespace OrleansMigrate.Hypervisor.Sessions.Conntrack;

/// <summary>
/// A raw <c>AF_NETLINK</c> / <c>NETLINK_NETFILTER</c> socket made with P/Invoke (.NET's <see cref="System.Net.Sockets.Socket"/>
/// cannot open one). Created inside a named network namespace through <see cref="NetNamespace.Run{T}"/> (null: this
/// process's own) and usable from any thread afterwards; not thread-safe (one caller at a time).
/// </summary>
internal sealed partial class NetlinkSocket : IDisposable
{
    private const int AfNetlink = 16;
    private const int SockRaw = 3;
    private const int SockCloexec = 0x80000;
    private const int NetlinkNetfilter = 12;

    /// <summary><c>NETLINK_ROUTE</c>: links, addresses, routes and policy rules.</summary>
    public const int NetlinkRoute = 0;
    private const int SolSocket = 1;
    private const int SoSndbuf = 7;
    private const int SoRcvbuf = 8;
    private const int SoSndbufForce = 32;
    private const int SoRcvbufForce = 33;
    private const int SolNetlink = 270;
    private const int NetlinkAddMembership = 1;
    private const int NetlinkCapAck = 10;
    private const int MsgTrunc = 0x20;
    private const int MsgDontwait = 0x40;
    private const short PollIn = 1;

    /// <summary>errno values the callers look at.</summary>
    public const int Eintr = 4;
    public const int Eagain = 11;
    public const int Enobufs = 105;

    private int _fd;

    private NetlinkSocket(int fd, uint portId, string? ns)
    {
        _fd = fd;
        PortId = portId;
        Namespace = ns;
    }

    /// <summary>The kernel-assigned netlink port id of this socket.</summary>
    public uint PortId { get; }

    /// <summary>The network namespace the socket was made in (null: the process's own).</summary>
    public string? Namespace { get; }

    /// <summary>Opens a socket in <paramref name="ns"/>, joins <paramref name="groups"/> (multicast group numbers) and
    /// sets the buffer sizes (forced past the sysctl limits when the process may, else as large as allowed). Throws
    /// <see cref="ConntrackException"/> naming the namespace and the errno when the socket cannot be made.</summary>
    public static NetlinkSocket Open(string? ns, IReadOnlyList<int> groups, int receiveBufferBytes, int sendBufferBytes) =>
        Open(ns, groups, receiveBufferBytes, sendBufferBytes, NetlinkNetfilter);

    /// <summary>As <see cref="Open(string?, IReadOnlyList{int}, int, int)"/>, for a netlink family of the caller's
    /// (<see cref="NetlinkRoute"/> for routes and rules).</summary>
    public static NetlinkSocket Open(string? ns, IReadOnlyList<int> groups, int receiveBufferBytes, int sendBufferBytes, int protocol) =>
        NetNamespace.Run(ns, () =>
        {
            var where = ns is null ? "this process's network namespace" : $"network namespace '{ns}'";
            var fd = Socket(AfNetlink, SockRaw | SockCloexec, protocol);
            if (fd < 0)
                throw Fail($"cannot open a netlink socket (protocol {protocol}) in {where}", Marshal.GetLastPInvokeError());
            try
            {
                Span<byte> address = stackalloc byte[12];
                address.Clear();
                BitConverter.TryWriteBytes(address, (ushort)AfNetlink);
                if (Bind(fd, address, address.Length) != 0)
                    throw Fail($"cannot bind the netlink socket (protocol {protocol}) in {where}", Marshal.GetLastPInvokeError());
                var length = address.Length;
                if (GetSockName(fd, address, ref length) != 0)
                    throw Fail($"getsockname on the netlink socket (protocol {protocol}) in {where} failed", Marshal.GetLastPInvokeError());
                var portId = BitConverter.ToUInt32(address[4..]);
                SetIntOption(fd, SolNetlink, NetlinkCapAck, 1, required: false);
                if (!SetIntOption(fd, SolSocket, SoRcvbufForce, receiveBufferBytes, required: false))
                    SetIntOption(fd, SolSocket, SoRcvbuf, receiveBufferBytes, required: false);
                if (!SetIntOption(fd, SolSocket, SoSndbufForce, sendBufferBytes, required: false))
                    SetIntOption(fd, SolSocket, SoSndbuf, sendBufferBytes, required: false);
                foreach (var group in groups)
                {
                    if (!SetIntOption(fd, SolNetlink, NetlinkAddMembership, group, required: false))
                        throw Fail($"cannot join conntrack event group {group} in {where} (needs CAP_NET_ADMIN)", Marshal.GetLastPInvokeError());
                }

                return new NetlinkSocket(fd, portId, ns);
            }
            catch
            {
                _ = Close(fd);
                throw;
            }
        });

    /// <summary>Sends <paramref name="data"/> (one or more netlink messages) to the kernel in one <c>sendmsg</c>.</summary>
    public unsafe void Send(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_fd < 0, this);
        Span<byte> address = stackalloc byte[12];
        address.Clear();
        BitConverter.TryWriteBytes(address, (ushort)AfNetlink);
        for (var attempt = 0; attempt < 100; attempt++)
        {
            fixed (byte* p = data)
            fixed (byte* a = address)
            {
                var iov = new IoVec { Base = p, Length = (nuint)data.Length };
                var msg = new MsgHdr { Name = a, NameLength = 12, Iov = &iov, IovLength = 1 };
                var sent = SendMsg(_fd, &msg, 0);
                if (sent == data.Length)
                    return;
                if (sent >= 0)
                    throw new ConntrackException($"sendmsg sent {sent} of {data.Length} bytes on the netlink socket", 0);
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Eintr)
                    throw Fail("sendmsg on the netlink socket failed", errno);
            }
        }

        throw new ConntrackException("sendmsg on the netlink socket was interrupted 100 times", Eintr);
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for data and reads one datagram into <paramref name="buffer"/>. Returns
    /// its length, 0 when the time ran out, or −errno for <c>ENOBUFS</c> (the kernel dropped messages for this socket:
    /// the caller must treat its view as incomplete). Throws on other errors and on a datagram longer than the buffer.
    /// </summary>
    public unsafe int Receive(Span<byte> buffer, TimeSpan timeout)
    {
        ObjectDisposedException.ThrowIf(_fd < 0, this);
        var deadline = Environment.TickCount64 + (long)Math.Max(0, timeout.TotalMilliseconds);
        for (var attempt = 0; attempt < 10_000; attempt++)
        {
            var waitMs = (int)Math.Clamp(deadline - Environment.TickCount64, 0, int.MaxValue);
            var pfd = new PollFd { Fd = _fd, Events = PollIn };
            var ready = Poll(&pfd, 1, waitMs);
            if (ready < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Eintr)
                    continue;
                throw Fail("poll on the netlink socket failed", errno);
            }

            if (ready == 0)
                return 0;
            fixed (byte* p = buffer)
            {
                var iov = new IoVec { Base = p, Length = (nuint)buffer.Length };
                var msg = new MsgHdr { Iov = &iov, IovLength = 1 };
                var n = RecvMsg(_fd, &msg, MsgDontwait);
                if (n >= 0)
                {
                    if ((msg.Flags & MsgTrunc) != 0 || n > buffer.Length)
                        throw new ConntrackException($"a netlink datagram did not fit the {buffer.Length}-byte receive buffer (truncated)", 0);
                    return (int)n;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno == Enobufs)
                    return -Enobufs;
                if (errno is Eintr or Eagain)
                    continue;
                throw Fail("recvmsg on the netlink socket failed", errno);
            }
        }

        throw new ConntrackException("recvmsg on the netlink socket was interrupted 10000 times", Eintr);
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
            _ = Close(fd);
    }

    private static ConntrackException Fail(string what, int errno) =>
        new($"{what}: errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)})", errno);

    private static bool SetIntOption(int fd, int level, int name, int value, bool required)
    {
        var ok = SetSockOpt(fd, level, name, ref value, sizeof(int)) == 0;
        if (!ok && required)
            throw Fail($"setsockopt({level}, {name}) failed", Marshal.GetLastPInvokeError());
        return ok;
    }

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct MsgHdr
    {
        public byte* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    private static partial int Bind(int fd, ReadOnlySpan<byte> address, int length);

    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    private static partial int GetSockName(int fd, Span<byte> address, ref int length);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOpt(int fd, int level, int name, ref int value, int length);

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static unsafe partial nint SendMsg(int fd, MsgHdr* message, int flags);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static unsafe partial nint RecvMsg(int fd, MsgHdr* message, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
