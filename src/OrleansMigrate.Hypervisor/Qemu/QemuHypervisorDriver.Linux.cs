using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>The optional devices of a <see cref="QemuGuest"/>: a direct Linux boot with a serial console log, virtio
/// NICs on tap devices and a virtio-blk data disk. Kept apart from the boot-disk launch so a guest without them starts
/// exactly as before.</summary>
public sealed partial class QemuHypervisorDriver
{
    /// <summary>At most this many NICs per VM.</summary>
    public const int MaxNics = 8;

    /// <summary>Checks the optional devices of <paramref name="guest"/> (paths confined to the image directories, tap
    /// names, MACs, the command line); throws <see cref="ArgumentException"/> naming the field and the reason.</summary>
    internal void CheckGuestDevices(QemuGuest guest)
    {
        if (guest.Linux is { } linux)
        {
            CheckConfined(linux.KernelPath, "Linux.KernelPath");
            if (linux.InitrdPath is { } initrd)
                CheckConfined(initrd, "Linux.InitrdPath");
            if (linux.CommandLine is null || linux.CommandLine.Length > 2048 || linux.CommandLine.Any(c => c is < ' ' or > '~'))
                throw new ArgumentException("Linux.CommandLine must be printable ASCII of at most 2048 characters.", nameof(guest));
            if (linux.ConsoleLogPath is { } log)
                CheckConsoleLog(log);
        }

        var nics = guest.Nics ?? throw new ArgumentException("Nics must not be null (empty for none).", nameof(guest));
        if (nics.Count > MaxNics)
            throw new ArgumentException($"Nics has {nics.Count} entries: at most {MaxNics}.", nameof(guest));
        for (var i = 0; i < nics.Count; i++)
        {
            var nic = nics[i] ?? throw new ArgumentException($"Nics[{i}] is null.", nameof(guest));
            if (!IsInterfaceName(nic.TapName))
                throw new ArgumentException($"Nics[{i}].TapName '{nic.TapName}' is not an interface name (1..15 of letters, digits, '-', '_', '.').", nameof(guest));
            if (!IsUnicastMac(nic.Mac))
                throw new ArgumentException($"Nics[{i}].Mac '{nic.Mac}' is not a unicast MAC address (six colon-separated hex pairs, first octet even).", nameof(guest));
            for (var j = 0; j < i; j++)
            {
                if (nics[j].TapName == nic.TapName)
                    throw new ArgumentException($"Nics[{i}].TapName '{nic.TapName}' is used twice.", nameof(guest));
                if (string.Equals(nics[j].Mac, nic.Mac, StringComparison.OrdinalIgnoreCase))
                    throw new ArgumentException($"Nics[{i}].Mac '{nic.Mac}' is used twice.", nameof(guest));
            }
        }

        if (guest.DataDiskPath is { } data)
        {
            var resolved = CheckConfined(data, "DataDiskPath");
            if (resolved == CheckImage(guest.ImagePath))
                throw new ArgumentException("DataDiskPath is the boot image itself: a disk is attached once.", nameof(guest));
        }
    }

    /// <summary>The QEMU arguments for the optional devices (after <see cref="CheckGuestDevices"/>), and the
    /// <c>-serial</c> value: <c>none</c>, or the console log file for a Linux boot.</summary>
    internal (List<string> Arguments, string Serial) GuestDeviceArguments(QemuGuest guest)
    {
        var arguments = new List<string>();
        var serial = "none";
        if (guest.Linux is { } linux)
        {
            arguments.AddRange(["-kernel", CheckConfined(linux.KernelPath, "Linux.KernelPath")]);
            if (linux.InitrdPath is { } initrd)
                arguments.AddRange(["-initrd", CheckConfined(initrd, "Linux.InitrdPath")]);
            arguments.AddRange(["-append", linux.CommandLine]);
            if (linux.ConsoleLogPath is { } log)
                serial = "file:" + CheckConsoleLog(log);
        }

        for (var i = 0; i < guest.Nics.Count; i++)
        {
            var nic = guest.Nics[i];
            var id = "net" + i.ToString(CultureInfo.InvariantCulture);
            arguments.AddRange(["-netdev", $"tap,id={id},ifname={nic.TapName},script=no,downscript=no"]);
            arguments.AddRange(["-device", $"virtio-net-pci,netdev={id},mac={nic.Mac.ToLowerInvariant()}"]);
        }

        if (guest.DataDiskPath is { } data)
        {
            // JSON syntax, as for the boot disk: the path cannot inject an option.
            arguments.AddRange(["-blockdev", new JsonObject { ["driver"] = "raw", ["node-name"] = "data0", ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = CheckConfined(data, "DataDiskPath") } }.ToJsonString()]);
            arguments.AddRange(["-device", "virtio-blk-pci,drive=data0"]);
        }

        return (arguments, serial);
    }

    /// <summary>The optional devices for the VM's state file (so an agent that adopts the VM later launches a migration's
    /// destination with them); null when the guest has none.</summary>
    internal static JsonNode? GuestDevicesToJson(QemuGuest guest) =>
        guest.Linux is null && guest.Nics.Count == 0 && guest.DataDiskPath is null && guest.NbdDisk is null
            ? null
            : JsonSerializer.SerializeToNode(new GuestDevices(guest.Linux, guest.Nics, guest.DataDiskPath, guest.NbdDisk));

    /// <summary>The guest with the devices a state file recorded (<see cref="GuestDevicesToJson"/>); unchanged for null
    /// or an unreadable record (a migration of that VM then fails at QEMU's device check, not silently).</summary>
    internal static QemuGuest WithGuestDevices(QemuGuest guest, JsonNode? devices)
    {
        if (devices is null)
            return guest;
        try
        {
            var read = devices.Deserialize<GuestDevices>();
            return read is null ? guest : guest with { Linux = read.Linux, Nics = read.Nics ?? [], DataDiskPath = read.DataDiskPath, NbdDisk = read.NbdDisk };
        }
        catch (JsonException)
        {
            return guest;
        }
    }

    private sealed record GuestDevices(QemuLinuxBoot? Linux, IReadOnlyList<QemuNic>? Nics, string? DataDiskPath, QemuNbdDisk? NbdDisk = null);

    /// <summary>An interface name the kernel accepts (IFNAMSIZ 16 with the NUL) and QEMU's option syntax cannot misread.</summary>
    public static bool IsInterfaceName(string? name) =>
        name is { Length: > 0 and <= 15 } && name is not ("." or "..") && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>Six colon-separated hex pairs with the multicast bit of the first octet clear.</summary>
    public static bool IsUnicastMac(string? mac)
    {
        if (mac is not { Length: 17 })
            return false;
        for (var i = 0; i < 17; i++)
        {
            if (i % 3 == 2 ? mac[i] != ':' : !char.IsAsciiHexDigit(mac[i]))
                return false;
        }

        return (byte.Parse(mac.AsSpan(0, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture) & 1) == 0;
    }

    private string CheckConfined(string path, string field)
    {
        try
        {
            return CheckImage(path);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"{field}: {ex.Message}", field, ex);
        }
    }

    /// <summary>The console log's resolved path: absolute, no comma (QEMU's option syntax), its directory existing inside
    /// an image directory or the runtime directory.</summary>
    private string CheckConsoleLog(string path)
    {
        const string Field = "Linux.ConsoleLogPath";
        if (string.IsNullOrWhiteSpace(path) || !Path.IsPathFullyQualified(path) || path.Contains(',', StringComparison.Ordinal) || path.EndsWith('/'))
            throw new ArgumentException($"{Field} must be an absolute file path without commas, was '{path}'.", Field);
        var directory = RealPath(Path.GetDirectoryName(path)!);
        var allowed = _options.ImageDirectories.Append(_options.RuntimeDirectory)
            .Select(dir => Path.TrimEndingDirectorySeparator(RealPath(dir)))
            .Any(dir => directory == dir || directory.StartsWith(dir + Path.DirectorySeparatorChar, StringComparison.Ordinal));
        if (!allowed)
            throw new ArgumentException($"{Field} '{path}' is outside the image directories and the runtime directory.", Field);
        if (!Directory.Exists(directory))
            throw new ArgumentException($"{Field}: directory '{directory}' does not exist on host {HostId}.", Field);
        var resolved = Path.Join(directory, Path.GetFileName(path));
        if (Directory.Exists(resolved))
            throw new ArgumentException($"{Field} '{path}' is a directory.", Field);
        return resolved;
    }
}
