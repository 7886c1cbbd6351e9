using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using OrleansMigrate.Grains.Cloud.Nbd;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Cloud.Nbd;

/// <summary>One test's own qemu-storage-daemon: a temp directory <c>/tmp/omn-…</c>, an NBD server on a free loopback
/// port, the <see cref="NbdCloudDiskBackend"/> on it. Dispose disposes the store (which kills the daemon by its pid) and removes the directory.</summary>
public sealed class NbdLab : IAsyncDisposable
{
    private NbdLab(string root, QemuStorageDaemon daemon)
    {
        Root = root;
        Store = new NbdCloudDiskBackend(daemon, imageSizeMiB: 16);
    }

    public string Root { get; }

    /// <summary>The daemon serving now (the store starts a new one when it dies).</summary>
    public QemuStorageDaemon Daemon => Store.Daemon;

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

    /// <summary>A daemon started the way the lab starts one (not by a store, so a store can only attach to it), its QMP on
    /// <paramref name="socket"/> and its pid file in <paramref name="root"/>. The caller kills it by its pid.</summary>
    public static Process StartSupervised(string root, string socket)
    {
        File.Delete(Path.Combine(root, "qsd.pid"));
        return Process.Start(new ProcessStartInfo(QemuStorageDaemon.Binary)
        {
            ArgumentList = { "--chardev", $"socket,id=qmp0,path={socket},server=on,wait=off", "--monitor", "chardev=qmp0", "--pidfile", Path.Combine(root, "qsd.pid") },
            UseShellExecute = false,
        })!;
    }

    /// <summary>Kills a daemon from <see cref="StartSupervised"/> by its pid and waits for it; one disposed already is left.</summary>
    public static async Task StopSupervisedAsync(Process daemon)
    {
        try
        {
            if (!daemon.HasExited)
            {
                daemon.Kill();
                await daemon.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // Disposed already (stopped by the test).
        }

        daemon.Dispose();
    }

    /// <summary>Waits for a daemon from <see cref="StartSupervised"/> to write its pid file (its monitor is up then).</summary>
    public static Task WaitForPidFileAsync(string root) =>
        Eventually.TrueAsync(() => File.Exists(Path.Combine(root, "qsd.pid")), TimeSpan.FromSeconds(10), "the daemon writing its pid file");

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
            await Store.DisposeAsync();
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
