using System.Net;
using System.Net.Sockets;
using System.Text;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Lab;

namespace OrleansMigrate.Grains.Tests.Cloud.Linux;

/// <summary>
/// A lab of the test's own prefix (two hosts and the client/gateway, underlay 10.77.(200+n).0/24 so it never shares a
/// root subnet with another lab) and a "VM": a namespace <c>{prefix}-vm</c> joined by a veth whose host end is named as
/// the VM's tap would be, with a UDP echo on 7007 and TCP echoes on 7008 and 7009 made inside it. Dispose brings the
/// whole lab down (by its prefix), whatever failed.
/// </summary>
internal sealed class LabNetworkHarness : IAsyncDisposable
{
    public const string VmIp = "172.30.0.10";
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _sockets = [];
    private readonly string _stateDirectory;

    private LabNetworkHarness(int n, bool storage)
    {
        Prefix = $"omv{n}";
        _stateDirectory = Path.Combine(Path.GetTempPath(), $"omv-lab-{Environment.ProcessId}");
        Topology = new LabTopology(new LabTopologyOptions
        {
            Prefix = Prefix,
            Hosts = 2,
            Storage = storage,
            Underlay = $"10.77.{200 + n}.0/24",
            StateDirectory = _stateDirectory,
        });
    }

    public string Prefix { get; }

    public LabTopology Topology { get; }

    public string VmNamespace => $"{Prefix}-vm";

    public string Tap => VmNicAttachment.TapName($"{Prefix}-vm");

    /// <summary>A lab brought down first (a leftover of a killed run), not brought up.</summary>
    public static async Task<LabNetworkHarness> CreateAsync(int n, bool storage = false)
    {
        var harness = new LabNetworkHarness(n, storage);
        await harness.Topology.DownAsync();
        return harness;
    }

    /// <summary>Brings the lab up and makes the VM on host 1 (tap attached there).</summary>
    public async Task UpWithVmAsync()
    {
        await Topology.UpAsync();
        await HostCommand.RunAsync("ip", ["netns", "add", VmNamespace]);
        await Ip.RunAsync(VmNamespace, ["link", "set", "lo", "up"]);
        await Ip.RunAsync(null, ["link", "add", Tap, "netns", Topology.HostNamespace(1), "type", "veth", "peer", "name", "eth0", "netns", VmNamespace]);
        await Ip.RunAsync(VmNamespace, ["link", "set", "eth0", "address", "52:54:00:00:00:10", "up"]);
        await Ip.RunAsync(VmNamespace, ["addr", "add", VmIp + "/24", "dev", "eth0"]);
        await Ip.RunAsync(VmNamespace, ["route", "add", "default", "via", LabConventions.DefaultVmGateway]);
        await VmNicAttachment.AttachAsync(Topology.HostNamespace(1), Tap, VmIp);
        StartUdpEcho(LabConventions.GuestUdpEchoPort);
        StartTcpEcho(LabConventions.GuestTcpStreamPort);
        StartTcpEcho(7009);
    }

    /// <summary>Moves the VM's link from host <paramref name="from"/> to host <paramref name="to"/> and attaches it there —
    /// its sockets (in the VM's namespace) live on; no conntrack entry goes with it.</summary>
    public async Task MoveVmAsync(int from, int to)
    {
        await Ip.RunAsync(Topology.HostNamespace(from), ["link", "set", Tap, "netns", Topology.HostNamespace(to)]);
        await VmNicAttachment.AttachAsync(Topology.HostNamespace(to), Tap, VmIp);
    }

    /// <summary>Whether a UDP datagram from the client to the VM's echo comes back (up to <paramref name="attempts"/> tries of 1 s).</summary>
    public async Task<bool> UdpReachesVmAsync(int attempts = 3)
    {
        using var socket = NetNamespace.Run(Topology.ClientNamespace, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        var target = new IPEndPoint(IPAddress.Parse(VmIp), LabConventions.GuestUdpEchoPort);
        var buffer = new byte[64];
        for (var i = 0; i < attempts; i++)
        {
            await socket.SendToAsync(Encoding.ASCII.GetBytes($"ping {i}"), target);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            try
            {
                var received = await socket.ReceiveAsync(buffer, timeout.Token);
                if (Encoding.ASCII.GetString(buffer, 0, received) == $"ping {i}")
                {
                    return true;
                }
            }
            catch (OperationCanceledException)
            {
                // Lost; try again.
            }
        }

        return false;
    }

    /// <summary>A TCP connection from the client to the VM's port, or null when the connect did not complete in 2 s.</summary>
    public async Task<Socket?> ConnectAsync(int port)
    {
        var socket = NetNamespace.Run(Topology.ClientNamespace, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(VmIp), port), timeout.Token);
            return socket;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
        {
            socket.Dispose();
            return null;
        }
    }

    /// <summary>Whether <paramref name="text"/> sent on <paramref name="socket"/> is echoed within <paramref name="wait"/>.</summary>
    public static async Task<bool> EchoesAsync(Socket socket, string text, TimeSpan wait)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        await socket.SendAsync(bytes);
        var buffer = new byte[bytes.Length];
        var got = 0;
        using var timeout = new CancellationTokenSource(wait);
        try
        {
            while (got < bytes.Length)
            {
                var n = await socket.ReceiveAsync(buffer.AsMemory(got), timeout.Token);
                if (n == 0)
                {
                    return false;
                }

                got += n;
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        return Encoding.ASCII.GetString(buffer) == text;
    }

    /// <summary>Names of the namespaces and root links with this lab's prefix still on the machine.</summary>
    public async Task<IReadOnlyList<string>> LeftoversAsync()
    {
        var links = await Ip.LinkNamesAsync(null);
        return [.. Topology.ExistingNamespaces().Select(n => "netns " + n).Concat(links.Where(l => l.StartsWith(Prefix + "-", StringComparison.Ordinal)).Select(l => "link " + l))];
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }
        }

        await Topology.DownAsync();
        _stop.Dispose();
        try
        {
            Directory.Delete(_stateDirectory);
        }
        catch (IOException)
        {
            // Another harness of this run still has its state file there.
        }
    }

    private void StartUdpEcho(int port)
    {
        var socket = NetNamespace.Run(VmNamespace, () =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Any, port));
            return s;
        });
        lock (_sockets)
        {
            _sockets.Add(socket);
        }

        _ = Task.Run(async () =>
        {
            var buffer = new byte[2048];
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    var result = await socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                    await socket.SendToAsync(buffer.AsMemory(0, result.ReceivedBytes), result.RemoteEndPoint);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }
            }
        });
    }

    private void StartTcpEcho(int port)
    {
        var listener = NetNamespace.Run(VmNamespace, () =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(IPAddress.Any, port));
            s.Listen(8);
            return s;
        });
        lock (_sockets)
        {
            _sockets.Add(listener);
        }

        _ = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket connection;
                try
                {
                    connection = await listener.AcceptAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }

                lock (_sockets)
                {
                    _sockets.Add(connection);
                }

                _ = Task.Run(async () =>
                {
                    var buffer = new byte[2048];
                    try
                    {
                        int n;
                        while ((n = await connection.ReceiveAsync(buffer, _stop.Token)) > 0)
                        {
                            await connection.SendAsync(buffer.AsMemory(0, n), _stop.Token);
                        }
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                    {
                        // The test ended or the stream died.
                    }
                });
            }
        });
    }
}
