using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>
/// A cloud disk a VM attaches over NBD: the block store's server and THIS host's export of the disk (every holder has
/// its own export, so a migration's destination is started with a different export than its source's). Attached as
/// a virtio-blk device after the boot disk.
/// </summary>
public sealed record QemuNbdDisk
{
    /// <summary>QEMU node name of the NBD client node.</summary>
    public const string NodeName = "nbd0";

    /// <summary>qdev id of the virtio-blk device (its block backend is <c>vd-nbd0/virtio-backend</c>).</summary>
    public const string DeviceId = "vd-nbd0";

    /// <summary>NBD server address (IP).</summary>
    public required string Host { get; init; }

    /// <summary>NBD server TCP port.</summary>
    public required int Port { get; init; }

    /// <summary>This host's export name.</summary>
    public required string ExportName { get; init; }

    /// <summary>Seconds a request waits for a lost connection to come back, 1–300; default 5. Must be above 0: QEMU
    /// 7.2's NBD client reconnects (to an export re-added under the same name, a rollback's hand-back) only then.</summary>
    public int ReconnectDelaySeconds { get; init; } = 5;

    /// <summary>Refuses a disk QEMU could not attach, naming the field.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host) || !IPAddress.TryParse(Host, out _))
            throw new ArgumentException($"nbd disk host must be an IP address, was '{Host}'.", nameof(Host));
        if (Port is < 1 or > 65535)
            throw new ArgumentException($"nbd disk port must be between 1 and 65535, was {Port.ToString(CultureInfo.InvariantCulture)}.", nameof(Port));
        if (string.IsNullOrEmpty(ExportName) || ExportName.Length > 4096 || ExportName.Any(char.IsControl))
            throw new ArgumentException("nbd disk export name must be 1-4096 characters without control characters.", nameof(ExportName));
        if (ReconnectDelaySeconds is < 1 or > 300)
            throw new ArgumentException($"nbd disk reconnect delay must be between 1 and 300 s, was {ReconnectDelaySeconds.ToString(CultureInfo.InvariantCulture)}.", nameof(ReconnectDelaySeconds));
    }

    /// <summary>The QEMU arguments attaching the disk (JSON <c>-blockdev</c>: no value can inject another option).</summary>
    public IReadOnlyList<string> Arguments()
    {
        Validate();
        var nbd = new JsonObject
        {
            ["driver"] = "nbd",
            ["node-name"] = NodeName,
            ["server"] = new JsonObject { ["type"] = "inet", ["host"] = Host, ["port"] = Port.ToString(CultureInfo.InvariantCulture) },
            ["export"] = ExportName,
            ["reconnect-delay"] = ReconnectDelaySeconds,
        };
        return ["-blockdev", nbd.ToJsonString(), "-device", $"virtio-blk-pci,drive={NodeName},id={DeviceId}"];
    }
}
