using System.Globalization;
using System.Net;
using OrleansMigrate.Hypervisor.Linux;

namespace OrleansMigrate.Grains.Cloud.Nbd;

/// <summary>
/// Which block store a silo's cloud disks live on (<c>Omig:Cloud:Disk:Backend</c>): <c>simulated</c> (default, in
/// memory) or <c>nbd</c> (a running <c>qemu-storage-daemon</c>, reached through <see cref="Nbd"/>).
/// </summary>
public sealed class CloudDiskSettings
{
    /// <summary><c>simulated</c> (default) or <c>nbd</c>.</summary>
    public string Backend { get; set; } = "simulated";

    /// <summary>The daemon of the <c>nbd</c> backend (<c>Omig:Cloud:Disk:Nbd:*</c>).</summary>
    public NbdDiskOptions Nbd { get; set; } = new();

    /// <summary>Whether <see cref="Backend"/> is <c>nbd</c>.</summary>
    public bool UsesNbd => Backend.Trim().Equals("nbd", StringComparison.OrdinalIgnoreCase);

    /// <summary>The option errors a silo refuses to start with, each naming its key; the files and programs the
    /// <c>nbd</c> backend needs are checked at silo start by <see cref="NbdDiskOptionsValidator"/>.</summary>
    public List<string> Check()
    {
        var errors = new List<string>();
        var backend = Backend?.Trim().ToLowerInvariant();
        if (backend is not ("simulated" or "nbd"))
        {
            errors.Add($"Omig:Cloud:Disk:Backend: '{Backend}' is not simulated or nbd");
        }
        else if (backend == "nbd")
        {
            errors.AddRange(Nbd.Check());
        }

        return errors;
    }
}

/// <summary>The <c>nbd</c> disk backend's daemon (<c>Omig:Cloud:Disk:Nbd:*</c>): a <c>qemu-storage-daemon</c> that runs
/// already (the lab starts it), its QMP socket, the NBD address it serves (and VMs attach to), its image directory.</summary>
public sealed class NbdDiskOptions
{
    /// <summary>Default size of a new disk image: 64 MiB (the lab's guests are small).</summary>
    public const int DefaultImageSizeMiB = 64;

    /// <summary>Largest image size: 1 TiB.</summary>
    public const int MaxImageSizeMiB = 1024 * 1024;

    /// <summary>The daemon's QMP unix socket (<c>--chardev socket,path=…</c>); required.</summary>
    public string? QmpSocket { get; set; }

    /// <summary>Address the daemon's NBD server listens on and VMs' QEMU connect to; default 127.0.0.1.</summary>
    public string ServerHost { get; set; } = "127.0.0.1";

    /// <summary>The NBD server's TCP port; default 10809 (NBD's own).</summary>
    public int ServerPort { get; set; } = 10809;

    /// <summary>Directory of the raw disk images, as both this silo and the daemon see it; required.</summary>
    public string? ImageDirectory { get; set; }

    /// <summary>Size of a new disk image, MiB; 1–<see cref="MaxImageSizeMiB"/>, default <see cref="DefaultImageSizeMiB"/>.</summary>
    public int ImageSizeMiB { get; set; } = DefaultImageSizeMiB;

    /// <summary>The static errors, each naming its key (nothing on disk is read).</summary>
    public List<string> Check()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(QmpSocket) || !Path.IsPathFullyQualified(QmpSocket))
        {
            errors.Add($"Omig:Cloud:Disk:Nbd:QmpSocket: must be the absolute path of the qemu-storage-daemon QMP socket, got '{QmpSocket}'");
        }

        if (string.IsNullOrWhiteSpace(ImageDirectory) || !Path.IsPathFullyQualified(ImageDirectory))
        {
            errors.Add($"Omig:Cloud:Disk:Nbd:ImageDirectory: must be an absolute directory path, got '{ImageDirectory}'");
        }

        if (string.IsNullOrWhiteSpace(ServerHost) || !IPAddress.TryParse(ServerHost, out _))
        {
            errors.Add($"Omig:Cloud:Disk:Nbd:ServerHost: must be an IP address, got '{ServerHost}'");
        }

        if (ServerPort is < 1 or > 65535)
        {
            errors.Add($"Omig:Cloud:Disk:Nbd:ServerPort: must be between 1 and 65535, got {ServerPort.ToString(CultureInfo.InvariantCulture)}");
        }

        if (ImageSizeMiB is < 1 or > MaxImageSizeMiB)
        {
            errors.Add($"Omig:Cloud:Disk:Nbd:ImageSizeMiB: must be between 1 and {MaxImageSizeMiB.ToString(CultureInfo.InvariantCulture)}, got {ImageSizeMiB.ToString(CultureInfo.InvariantCulture)}");
        }

        return errors;
    }
}

/// <summary>At silo start, with the <c>nbd</c> backend: what the options name must be there — the daemon's program, its
/// QMP socket, the image directory. One message per missing part.</summary>
public sealed class NbdDiskOptionsValidator(CloudDiskSettings settings) : Orleans.IConfigurationValidator
{
    public void ValidateConfiguration()
    {
        if (Check(settings) is { Count: > 0 } errors)
        {
            throw new Orleans.Runtime.OrleansConfigurationException("The nbd disk backend cannot start:\n  " + string.Join("\n  ", errors));
        }
    }

    /// <summary>The static option errors, then (when there are none) the parts missing on this machine.</summary>
    public static List<string> Check(CloudDiskSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var errors = settings.Check();
        if (errors.Count > 0 || !settings.UsesNbd)
        {
            return errors;
        }

        var o = settings.Nbd;
        if (!HostCommand.IsInstalled(QemuStorageDaemon.Binary))
        {
            errors.Add($"Omig:Cloud:Disk:Backend=nbd: {QemuStorageDaemon.Binary} is not installed on this machine (Debian: apt-get install qemu-system-x86)");
        }

        if (!File.Exists(o.QmpSocket))
        {
            errors.Add($"Omig:Cloud:Disk:Nbd:QmpSocket: '{o.QmpSocket}' does not exist: start qemu-storage-daemon with --chardev socket,path={o.QmpSocket},server=on,wait=off --monitor chardev=… first");
        }

        if (!Directory.Exists(o.ImageDirectory))
        {
            errors.Add($"Omig:Cloud:Disk:Nbd:ImageDirectory: '{o.ImageDirectory}' does not exist");
        }

        return errors;
    }
}
