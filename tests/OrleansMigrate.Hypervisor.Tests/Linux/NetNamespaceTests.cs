using System.Net;
using System.Net.Sockets;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Testing;

namespace OrleansMigrate.Hypervisor.Tests.Linux;

[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class NetNamespaceTests : IDisposable
{
    private readonly string _ns = $"omx-{Environment.ProcessId % 100000}";

    public NetNamespaceTests()
    {
        HostCommand.RunAsync("ip", ["netns", "add", _ns]).GetAwaiter().GetResult();
        HostCommand.RunAsync("ip", ["-n", _ns, "link", "set", "lo", "up"]).GetAwaiter().GetResult();
        HostCommand.RunAsync("ip", ["-n", _ns, "addr", "add", "10.99.0.1/32", "dev", "lo"]).GetAwaiter().GetResult();
    }

    public void Dispose() => HostCommand.TryRunAsync("ip", ["netns", "del", _ns]).GetAwaiter().GetResult();

    [Fact]
    public async Task A_socket_made_inside_a_namespace_lives_there_and_is_used_from_any_thread()
    {
        // 10.99.0.1 exists only inside the namespace: binding to it there works, here it cannot.
        using var inside = NetNamespace.Run(_ns, () =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(IPAddress.Parse("10.99.0.1"), 0));
            return socket;
        });
        using var outside = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        Assert.Throws<SocketException>(() => outside.Bind(new IPEndPoint(IPAddress.Parse("10.99.0.1"), 0)));

        using var sender = NetNamespace.Run(_ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        await sender.SendToAsync(new byte[] { 1, 2, 3 }, inside.LocalEndPoint!);
        var buffer = new byte[16];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var received = await inside.ReceiveAsync(buffer, timeout.Token);
        Assert.Equal(3, received);
    }

    [Fact]
    public void A_missing_or_bad_namespace_is_named()
    {
        var missing = Assert.Throws<InvalidOperationException>(() => NetNamespace.Run("omx-none", () => 1));
        Assert.Contains("omx-none", missing.Message);
        Assert.Throws<ArgumentException>(() => NetNamespace.Run("../etc", () => 1));
        Assert.Equal(7, NetNamespace.Run(null, () => 7));
    }
}
