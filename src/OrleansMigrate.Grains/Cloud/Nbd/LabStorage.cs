using System.Globalization;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Lab;

namespace OrleansMigrate.Grains.Cloud.Nbd;

/// <summary>
/// The lab's cloud-disk server: <c>qemu-storage-daemon</c> in the lab's storage namespace, a daemon of its own (it
/// outlives whoever started it; its PID is recorded in the lab's state file, so <c>omig lab down</c> stops it), with its
/// NBD server on the storage namespace's underlay address. Used by <c>omig lab up</c> and by the lab benchmark.
/// </summary>
public static class LabStorage
{
    /// <summary>The NBD server's port in the storage namespace.</summary>
    public const int NbdPort = 10809;

    /// <summary>The storage daemon's directory (its images, socket and pid file).</summary>
    public static string Directory(LabTopologyOptions options) => Path.Combine(options.StateDirectory, $"{options.Prefix}-storage");

    /// <summary>Where the daemon keeps the disks' images.</summary>
    public static string ImageDirectory(LabTopologyOptions options) => Path.Combine(Directory(options), "images");

    /// <summary>The daemon's QMP socket.</summary>
    public static string QmpSocket(LabTopologyOptions options) => Path.Combine(Directory(options), "qmp.sock");

    /// <summary>The storage namespace's underlay address (.2 of the underlay).</summary>
    public static string Address(LabTopologyOptions options) => options.Underlay[..options.Underlay.LastIndexOf('.')] + ".2";

    /// <summary>Starts the daemon inside the storage namespace, records its PID, starts its NBD server; returns its QMP socket.</summary>
    public static async Task<string> StartAsync(LabTopology lab, LabTopologyOptions options, CancellationToken ct = default)
    {
        System.IO.Directory.CreateDirectory(Directory(options));
        var images = System.IO.Directory.CreateDirectory(ImageDirectory(options)).FullName;
        var socket = QmpSocket(options);
        var pidFile = Path.Combine(Directory(options), "qsd.pid");
        File.Delete(socket);
        await HostCommand.RunAsync(QemuStorageDaemon.Binary,
            ["--chardev", $"socket,id=qmp0,path={socket},server=on,wait=off", "--monitor", "chardev=qmp0", "--pidfile", pidFile, "--daemonize"],
            netns: lab.StorageNamespace, cancellationToken: ct).ConfigureAwait(false);
        var pid = int.Parse((await File.ReadAllTextAsync(pidFile, ct).ConfigureAwait(false)).Trim(), NumberStyles.None, CultureInfo.InvariantCulture);
        lab.RecordProcess(lab.StorageNamespace, pid, "qemu-storage-daemon (nbd cloud disks)");

        // Starts its NBD server; the QMP connection closes with this call, free for the control silo that attaches next.
        await using var daemon = await QemuStorageDaemon.AttachAsync(socket, images, Address(options), NbdPort, ct).ConfigureAwait(false);
        return socket;
    }

    /// <summary>Deletes the daemon's directory (a new lab starts with no disks). The daemon must be stopped first.</summary>
    public static void Delete(LabTopologyOptions options)
    {
        if (System.IO.Directory.Exists(Directory(options)))
            System.IO.Directory.Delete(Directory(options), recursive: true);
    }

    /// <summary>How silos use the lab, as configuration keys (environment: replace ':' by '__'): the control silo's cloud
    /// backends; <paramref name="hostSilo"/> adds what a host silo started inside its namespace takes.</summary>
    public static Dictionary<string, string> SiloConfiguration(LabTopologyOptions options, bool storage, bool hostSilo)
    {
        var config = new Dictionary<string, string>(StringComparer.Ordinal);
        if (hostSilo)
        {
            config["Omig:Cloud:Sessions:Backend"] = "conntrack";
            config["Omig:Cloud:Network:VmNics"] = "tap";
            return config;
        }

        config["Omig:Cloud:Network:Backend"] = "linux";
        config["Omig:Cloud:Network:Linux:Prefix"] = options.Prefix;
        if (storage)
        {
            config["Omig:Cloud:Disk:Backend"] = "nbd";
            config["Omig:Cloud:Disk:Nbd:QmpSocket"] = QmpSocket(options);
            config["Omig:Cloud:Disk:Nbd:ImageDirectory"] = ImageDirectory(options);
            config["Omig:Cloud:Disk:Nbd:ServerHost"] = Address(options);
            config["Omig:Cloud:Disk:Nbd:ServerPort"] = NbdPort.ToString(CultureInfo.InvariantCulture);
        }

        return config;
    }
}
