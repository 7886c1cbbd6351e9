using System.Net;
using System.Net.Sockets;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Hypervisor.Sessions;
using OrleansMigrate.Hypervisor.Sessions.Conntrack;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.Sessions.Conntrack;

/// <summary>
/// Real TCP streams between two namespaces through a router namespace whose stateful firewall lets only SYNs to port
/// 7008 start a connection and everything else only as <c>ct state established</c>, with
/// <c>nf_conntrack_tcp_loose=0</c> (no pick-up of streams in the middle). The entries are copied to a second router
/// through the session rounds (a full copy, then a delta) and the route moved: a copied stream keeps flowing, the one
/// left out stalls — the copy is what carries it.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class ConntrackFailoverLabTests : IDisposable
{
    private const string VmIp = "172.30.0.10";
    private const string ServerIp = "10.62.0.5";
    private const int Port = 7008;
    private readonly OmcLab _lab = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<IDisposable> _sockets = [];

    public void Dispose()
    {
        _stop.Cancel();
        foreach (var s in _sockets)
            s.Dispose();
        _lab.Dispose();
        _stop.Dispose();
    }

    [Fact]
    public async Task A_copied_tcp_entry_keeps_the_stream_flowing_through_the_second_router_and_an_uncopied_one_stalls()
    {
        var id = _lab.Id;
        var a = _lab.Namespace("a");
        var b = _lab.Namespace("b");
        var r1 = _lab.Namespace("r1", eventsOn: true, strictTcp: true);
        var r2 = _lab.Namespace("r2", strictTcp: true);
        Link(a, $"{id}a1", "10.61.1.2/24", r1, $"{id}r1a", "10.61.1.1/24");
        Link(a, $"{id}a2", "10.61.2.2/24", r2, $"{id}r2a", "10.61.2.1/24");
        Link(b, $"{id}b1", "10.61.3.2/24", r1, $"{id}r1b", "10.61.3.1/24");
        Link(b, $"{id}b2", "10.61.4.2/24", r2, $"{id}r2b", "10.61.4.1/24");
        OmcLab.Run("ip", "-n", a, "addr", "add", $"{VmIp}/32", "dev", "lo");
        OmcLab.Run("ip", "-n", b, "addr", "add", $"{ServerIp}/32", "dev", "lo");
        foreach (var (r, toA, toB) in new[] { (r1, "10.61.1.2", "10.61.3.2"), (r2, "10.61.2.2", "10.61.4.2") })
        {
            OmcLab.Sysctl(r, "net.ipv4.ip_forward=1");
            OmcLab.Run("ip", "-n", r, "route", "add", $"{VmIp}/32", "via", toA);
            OmcLab.Run("ip", "-n", r, "route", "add", $"{ServerIp}/32", "via", toB);
            await HostCommand.RunAsync("nft", ["-f", "-"], netns: r, stdin:
                "table inet omc {\n chain omcfw {\n  type filter hook forward priority 0; policy drop;\n" +
                "  ct state established,related accept\n" +
                $"  ct state new tcp dport {Port} tcp flags & (syn|ack|fin|rst) == syn accept\n }}\n}}\n");
        }

        Route(a, ServerIp, "10.61.1.1", VmIp);
        Route(b, VmIp, "10.61.3.1", ServerIp);

        using var listener = NetNamespace.Run(b, () =>
        {
            var l = new TcpListener(IPAddress.Parse(ServerIp), Port);
            l.Start();
            return l;
        });
        _sockets.Add(listener.Server);

        // Two streams before the first copy: "kept" is copied in the full round, "dropped" is left out on purpose.
        var kept = await StreamAsync(a, listener);
        var dropped = await StreamAsync(a, listener);
        await AssertFlowsAsync(kept, "kept stream before the move");
        await AssertFlowsAsync(dropped, "dropped stream before the move");

        var sourceTable = new SessionTable();
        using var source = new ConntrackSessionSource(r1, IPAddress.Parse(VmIp), sourceTable);
        source.Start();
        Assert.Equal(2, sourceTable.Count);
        Assert.All(sourceTable.Snapshot().Values, e => Assert.Equal(SessionState.Established, e.State));
        sourceTable.StartTracking();
        var destinationTable = new SessionTable();
        using var sink = new ConntrackSessionSink(r2, destinationTable);
        sink.Start();

        // Round 1 (full copy), leaving the "dropped" stream's entry out.
        Assert.Equal(1, ConntrackEventsLabTests.Ship(sourceTable, destinationTable, r => r.Key.SourcePort != dropped.LocalPort));
        sink.Flush().ThrowIfFailed();

        // A third stream opened after the first copy travels in the next round's delta, from the event stream.
        var late = await StreamAsync(a, listener);
        await AssertFlowsAsync(late, "late stream before the move");
        await Eventually.TrueAsync(() =>
        {
            source.Sync();
            return sourceTable.Count >= 3;
        }, TimeSpan.FromSeconds(10), "the late stream reaches the source's table", TimeSpan.FromMilliseconds(20));

        Assert.Equal(3, sourceTable.Count);
        Assert.Equal(1, ConntrackEventsLabTests.Ship(sourceTable, destinationTable, r => r.Key.SourcePort != dropped.LocalPort));
        sink.Flush().ThrowIfFailed();

        // Read back from both kernels: the check sees exactly the entry left out.
        var comparison = ConntrackSessionMap.Compare(source.ReadBack(), sink.ReadBack(IPAddress.Parse(VmIp)));
        Assert.False(comparison.Consistent);
        var missing = Assert.Single(comparison.Missing);
        Assert.Equal(dropped.LocalPort, missing.SourcePort);
        Assert.Empty(comparison.Different);
        Assert.Empty(comparison.Extra);

        // Move both directions to the second router.
        Route(a, ServerIp, "10.61.2.1", VmIp);
        Route(b, VmIp, "10.61.4.1", ServerIp);

        await AssertFlowsAsync(kept, "kept stream through the second router");
        await AssertFlowsAsync(late, "late stream through the second router");
        // Fixed delays on purpose: 300 ms for bytes already in flight to land, then 3 s in which the dropped stream must move nothing.
        await Task.Delay(300);
        var before = dropped.ServerBytes;
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.True(dropped.ServerBytes == before, $"the uncopied stream moved {dropped.ServerBytes - before} bytes through the second router; its firewall should have dropped it");
        var stateR2 = OmcLab.In(r2, "conntrack", "-L", "-p", "tcp");
        Assert.Contains("ESTABLISHED", stateR2);
    }

    private static void Link(string nsA, string ifA, string ipA, string nsB, string ifB, string ipB)
    {
        OmcLab.Run("ip", "link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB);
        OmcLab.Run("ip", "-n", nsA, "addr", "add", ipA, "dev", ifA);
        OmcLab.Run("ip", "-n", nsB, "addr", "add", ipB, "dev", ifB);
        OmcLab.Run("ip", "-n", nsA, "link", "set", ifA, "up");
        OmcLab.Run("ip", "-n", nsB, "link", "set", ifB, "up");
    }

    private static void Route(string ns, string to, string via, string src) =>
        OmcLab.Run("ip", "-n", ns, "route", "replace", $"{to}/32", "via", via, "src", src);

    /// <summary>Connects from the VM address, then writes 512 bytes every 10 ms; the server side counts and echoes.</summary>
    private async Task<Stream> StreamAsync(string clientNs, TcpListener listener)
    {
        var client = NetNamespace.Run(clientNs, () =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            s.Bind(new IPEndPoint(IPAddress.Parse(VmIp), 0));
            return s;
        });
        _sockets.Add(client);
        using var connectTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var accept = listener.AcceptSocketAsync(connectTimeout.Token).AsTask();
        await client.ConnectAsync(new IPEndPoint(IPAddress.Parse(ServerIp), Port), connectTimeout.Token);
        var server = await accept;
        _sockets.Add(server);
        var stream = new Stream((ushort)((IPEndPoint)client.LocalEndPoint!).Port);
        var token = _stop.Token;
        _ = Task.Run(async () =>
        {
            var chunk = new byte[512];
            try
            {
                while (!token.IsCancellationRequested)
                {
                    await client.SendAsync(chunk, token);
                    await Task.Delay(10, token); // paces the stream: 512 bytes every 10 ms
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }, token);
        _ = Task.Run(async () =>
        {
            var buffer = new byte[8192];
            try
            {
                while (!token.IsCancellationRequested)
                {
                    var n = await server.ReceiveAsync(buffer, token);
                    if (n == 0)
                        return;
                    stream.AddServer(n);
                    await server.SendAsync(buffer.AsMemory(0, n), token);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }, token);
        _ = Task.Run(async () =>
        {
            var buffer = new byte[8192];
            try
            {
                while (!token.IsCancellationRequested)
                {
                    var n = await client.ReceiveAsync(buffer, token);
                    if (n == 0)
                        return;
                    stream.AddEcho(n);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }, token);
        return stream;
    }

    /// <summary>Waits (at most 10 s) until the stream moves 16 KiB more in both directions.</summary>
    private static async Task AssertFlowsAsync(Stream stream, string what)
    {
        var server = stream.ServerBytes;
        var echo = stream.EchoBytes;
        try
        {
            await Eventually.TrueAsync(() => stream.ServerBytes - server >= 16 * 1024 && stream.EchoBytes - echo >= 16 * 1024,
                TimeSpan.FromSeconds(10), $"{what}: 16 KiB more each way", TimeSpan.FromMilliseconds(50));
        }
        catch (TimeoutException)
        {
            Assert.Fail($"{what}: only {stream.ServerBytes - server} bytes reached the server and {stream.EchoBytes - echo} came back in 10 s");
        }
    }

    private sealed class Stream(ushort localPort)
    {
        private long _server;
        private long _echo;

        public ushort LocalPort { get; } = localPort;

        public long ServerBytes => Interlocked.Read(ref _server);

        public long EchoBytes => Interlocked.Read(ref _echo);

        public void AddServer(int n) => Interlocked.Add(ref _server, n);

        public void AddEcho(int n) => Interlocked.Add(ref _echo, n);
    }
}
