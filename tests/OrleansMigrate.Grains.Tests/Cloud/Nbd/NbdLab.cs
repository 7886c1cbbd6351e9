using System.Net;
using System.Net.Sockets;
using OrleansMigrate.Grains.Cloud.Nbd;

namespace OrleansMigrate.Tests.Cloud.Nbd;

/// <summary>One test's own qemu-storage-daemon: a temp directory <c>/tmp/omn-…</c>, an NBD server on a free loopback
/// port, the <see cref="NbdCloudDiskBackend"/> on it. Dispose kills the daemon by its pid and removes the directory.</summary>
public sealed class NbdLab : IAsyncDisposable
{
    private NbdLab(string root, QemuStorageDaemon daemon)
    {
        Root = root;
        Daemon = daemon;
        Store = new NbdCloudDiskBackend(daemon, imageSizeMiB: 16);
    }

    public string Root { get; }

    public QemuStorageDaemon Daemon { get; }

    public NbdCloudDiskBackend Store { get; }

    public static async Task<NbdLab> StartAsync()
    {
        var root = Path.Combine(Path.GetTempPath(), $"omn-{Environment.ProcessId}-{Guid.NewGuid():N}"[..24]);
        try
        {
            var daemon = await QemuStorageDaemon.StartAsync(root, "127.0.0.1", FreePort());
            return new NbdLab(root, daemon);
        }
        catch
        {
            Directory.Delete(root, recursive: true);
            throw;
        }
    }

    /// <summary>A loopback TCP port free now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The NBD URI of an export (for qemu-io / qemu-img).</summary>
    public string Uri(string exportName) => $"nbd://{Daemon.NbdHost}:{Daemon.NbdPort}/{System.Uri.EscapeDataString(exportName)}";

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Daemon.DisposeAsync();
        }
        finally
        {
            if (Directory.Exists(Root))
            {
                Directory.Delete(Root, recursive: true);
            }
        }
    }
}
