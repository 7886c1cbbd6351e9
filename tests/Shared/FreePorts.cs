using System.Net;
using System.Net.Sockets;

namespace OrleansMigrate.Testing;

/// <summary>
/// TCP ports for the silos, gateways and APIs a test starts. Binding port 0 and closing it (the old way) let the kernel
/// hand the same port out twice — a CI run started a silo whose gateway port equalled its silo port — and let an outgoing
/// connection take it before the process bound it. These come from 20000–31999, below Linux's ephemeral range (32768+, so
/// no outgoing connection takes one), are checked free by binding, and are never handed out twice in one test process.
/// Linked into the test projects that start processes or clusters.
/// </summary>
public static class FreePorts
{
    private const int First = 20000;
    private const int End = 32000;
    private static readonly Lock Gate = new();
    private static readonly HashSet<int> Given = [];

    // Test processes run one after another, but a run can overlap a leftover process: start at a point set by the pid.
    private static int _next = First + (Environment.ProcessId * 7 % (End - First));

    /// <summary>A port no other caller in this process got, free on loopback and on every address when checked.</summary>
    public static int Next()
    {
        lock (Gate)
        {
            for (var tries = 0; tries < End - First; tries++)
            {
                var port = _next;
                _next = _next + 1 >= End ? First : _next + 1;
                if (!Given.Contains(port) && CanListen(IPAddress.Any, port) && CanListen(IPAddress.Loopback, port))
                {
                    Given.Add(port);
                    return port;
                }
            }
        }

        throw new InvalidOperationException($"no free TCP port in {First}-{End - 1}");
    }

    private static bool CanListen(IPAddress address, int port)
    {
        try
        {
            using var listener = new TcpListener(address, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
