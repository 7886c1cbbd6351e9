using System.Collections.Immutable;
using System.Net;
using System.Text.RegularExpressions;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Fleet;

/// <summary>
/// The shape rules for everything a caller sends. Pure functions: the client library runs them
/// before a call and the grains run them again, so a bad request is refused before anything changes.
/// Field names are the CLI's spelling.
/// </summary>
public static partial class FleetValidation
{
    public const int MaxIdLength = 63;
    public const int MaxLabels = 64;
    public const int MaxLabelLength = 128;
    public const int MaxCpuFeatures = 256;
    public const int MaxDisksPerVm = 64;
    public const int MaxNicsPerVm = 32;
    public const int MaxPassthroughPerVm = 16;

    /// <summary>Most device lines (kinds and models) a host offers or a VM asks for.</summary>
    public const int MaxDeviceLines = 16;

    /// <summary>Most devices of one kind and model on a host (e.g. SR-IOV VFs of a NIC).</summary>
    public const int MaxDeviceCount = 1024;

    /// <summary>Most devices of one kind and model one VM asks for.</summary>
    public const int MaxDeviceCountPerVm = 64;
    public const long MaxHostMemoryMiB = 64L * 1024 * 1024;
    public const long MaxVmMemoryMiB = 16L * 1024 * 1024;
    public const long MaxDiskGiB = 64L * 1024;

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[a-z0-9][a-z0-9_.]{0,63}$")]
    private static partial Regex CpuFeaturePattern();

    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9._/-]{0,126}[A-Za-z0-9])?$")]
    private static partial Regex LabelKeyPattern();

    [GeneratedRegex("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")]
    private static partial Regex MacPattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex DeviceModelPattern();

    [GeneratedRegex("^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]$")]
    private static partial Regex PciAddressPattern();

    /// <summary>True when <paramref name="id"/> is a lower-case DNS label of 1–63 characters.</summary>
    public static bool IsValidId(string? id) => id is not null && IdPattern().IsMatch(id);

    public static void RequireId(string field, string? id)
    {
        if (string.IsNullOrEmpty(id))
        {
            throw OmigException.Invalid(field, "is required");
        }

        if (!IsValidId(id))
        {
            throw OmigException.Invalid(field, $"'{Truncate(id)}' is not a valid id: use 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit");
        }
    }

    public static void ValidateHost(HostSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        RequireId("host_id", spec.HostId);
        if (spec.Cores is < 1 or > 4096)
        {
            throw OmigException.Invalid("cores", $"must be between 1 and 4096, got {spec.Cores}");
        }

        if (spec.MemoryMiB is < 256 or > MaxHostMemoryMiB)
        {
            throw OmigException.Invalid("memory_mib", $"must be between 256 and {MaxHostMemoryMiB}, got {spec.MemoryMiB}");
        }

        RequireText("cpu_model", spec.CpuModel, 128);
        ValidateCpuFeatures("cpu_features", spec.CpuFeatures);
        if (spec.HardwareGeneration is < 1 or > 1000)
        {
            throw OmigException.Invalid("hw_generation", $"must be between 1 and 1000, got {spec.HardwareGeneration}");
        }

        RequireVersion("firmware", spec.FirmwareVersion);
        RequireVersion("kernel", spec.KernelVersion);
        RequireVersion("hypervisor", spec.HypervisorVersion);
        ValidateLabels("labels", spec.Labels);
        ValidateDevices("devices", spec.Devices, MaxDeviceCount);
    }

    public static void ValidateVm(VmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        RequireId("vm_id", spec.VmId);
        if (spec.Vcpus is < 1 or > 1024)
        {
            throw OmigException.Invalid("vcpus", $"must be between 1 and 1024, got {spec.Vcpus}");
        }

        if (spec.MemoryMiB is < 64 or > MaxVmMemoryMiB)
        {
            throw OmigException.Invalid("memory_mib", $"must be between 64 and {MaxVmMemoryMiB}, got {spec.MemoryMiB}");
        }

        ValidateCpuFeatures("cpu_features", spec.RequiredCpuFeatures);
        RequireId("class", spec.InstanceClass);
        if (spec.Image is { } image)
        {
            if (image.Length is 0 or > 1024 || !image.StartsWith('/') || image.Any(char.IsControl))
            {
                throw OmigException.Invalid("image", "must be an absolute path of at most 1024 characters without control characters");
            }

            if (image.Split('/').Any(part => part is ".." or "."))
            {
                throw OmigException.Invalid("image", "must not contain '.' or '..' path segments");
            }
        }

        ValidateLabels("labels", spec.Labels);

        if (spec.Disks.IsDefault || spec.Disks.Length > MaxDisksPerVm)
        {
            throw OmigException.Invalid("disks", $"at most {MaxDisksPerVm} disks");
        }

        var diskIds = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < spec.Disks.Length; i++)
        {
            var disk = spec.Disks[i] ?? throw OmigException.Invalid($"disks[{i}]", "is required");
            RequireId($"disks[{i}].id", disk.DiskId);
            if (disk.SizeGiB is < 1 or > MaxDiskGiB)
            {
                throw OmigException.Invalid($"disks[{i}].size_gib", $"must be between 1 and {MaxDiskGiB}, got {disk.SizeGiB}");
            }

            if (!diskIds.Add(disk.DiskId))
            {
                throw OmigException.Invalid($"disks[{i}].id", $"'{disk.DiskId}' is listed twice");
            }
        }

        if (spec.Nics.IsDefault || spec.Nics.Length > MaxNicsPerVm)
        {
            throw OmigException.Invalid("nics", $"at most {MaxNicsPerVm} NICs");
        }

        var ips = new HashSet<string>(StringComparer.Ordinal);
        var macs = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < spec.Nics.Length; i++)
        {
            var nic = spec.Nics[i] ?? throw OmigException.Invalid($"nics[{i}]", "is required");
            RequireId($"nics[{i}].vpc", nic.VpcId);
            if (!IsValidIpv4(nic.Ip))
            {
                throw OmigException.Invalid($"nics[{i}].ip", $"'{Truncate(nic.Ip)}' is not an IPv4 address (dotted quad)");
            }

            if (nic.Mac is null || !MacPattern().IsMatch(nic.Mac) || (Convert.ToByte(nic.Mac[..2], 16) & 1) == 1)
            {
                throw OmigException.Invalid($"nics[{i}].mac", $"'{Truncate(nic.Mac)}' is not a unicast MAC (aa:bb:cc:dd:ee:ff, lower case)");
            }

            if (!ips.Add(nic.VpcId + "/" + nic.Ip))
            {
                throw OmigException.Invalid($"nics[{i}].ip", $"'{nic.Ip}' is listed twice in VPC '{nic.VpcId}'");
            }

            if (!macs.Add(nic.Mac))
            {
                throw OmigException.Invalid($"nics[{i}].mac", $"'{nic.Mac}' is listed twice");
            }
        }

        if (spec.PassthroughDevices.IsDefault || spec.PassthroughDevices.Length > MaxPassthroughPerVm)
        {
            throw OmigException.Invalid("passthrough", $"at most {MaxPassthroughPerVm} devices");
        }

        for (var i = 0; i < spec.PassthroughDevices.Length; i++)
        {
            var dev = spec.PassthroughDevices[i] ?? throw OmigException.Invalid($"passthrough[{i}]", "is required");
            if (dev.Address is null || !PciAddressPattern().IsMatch(dev.Address))
            {
                throw OmigException.Invalid($"passthrough[{i}].address", $"'{Truncate(dev.Address)}' is not a PCI address (dddd:bb:ss.f, lower-case hex)");
            }

            RequireId($"passthrough[{i}].kind", dev.Kind);
        }

        ValidateDevices("devices", spec.Devices, MaxDeviceCountPerVm);
    }

    /// <summary>True when <paramref name="model"/> is 1–64 of letters, digits, '.', '_', '-', starting with a letter or digit.</summary>
    public static bool IsValidDeviceModel(string? model) => model is not null && DeviceModelPattern().IsMatch(model);

    /// <summary>Refuses a device list that is too long, holds a bad kind, model or count (1–<paramref name="maxCount"/>),
    /// or names the same kind and model twice; the error names <paramref name="field"/> and the entry.</summary>
    public static void ValidateDevices(string field, ImmutableArray<DeviceCount> devices, int maxCount)
    {
        if (devices.IsDefault || devices.Length > MaxDeviceLines)
        {
            throw OmigException.Invalid(field, $"at most {MaxDeviceLines} kinds and models");
        }

        var keys = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < devices.Length; i++)
        {
            var d = devices[i] ?? throw OmigException.Invalid($"{field}[{i}]", "is required");
            if (!Enum.IsDefined(d.Kind))
            {
                throw OmigException.Invalid($"{field}[{i}].kind", $"'{d.Kind}' is not one of {DeviceCounts.KindList}");
            }

            if (!IsValidDeviceModel(d.Model))
            {
                throw OmigException.Invalid($"{field}[{i}].model", $"'{Truncate(d.Model)}' must be 1-64 of letters, digits, '.', '_' and '-'");
            }

            if (d.Count < 1 || d.Count > maxCount)
            {
                throw OmigException.Invalid($"{field}[{i}].count", $"{d.Key} count must be between 1 and {maxCount}, got {d.Count}");
            }

            if (!keys.Add(d.Key))
            {
                throw OmigException.Invalid($"{field}[{i}]", $"{d.Key} is listed twice");
            }
        }
    }

    /// <summary>Why <paramref name="host"/> cannot run <paramref name="vm"/> — compatibility only, not capacity — or null.</summary>
    public static string? IncompatibilityReason(HostSpec host, VmSpec vm)
    {
        var missing = vm.RequiredCpuFeatures.Where(f => !host.CpuFeatures.Contains(f, StringComparer.Ordinal)).ToList();
        if (missing.Count > 0)
        {
            return $"host '{host.HostId}' lacks CPU features required by the VM: {string.Join(", ", missing)}";
        }

        return null;
    }

    public static bool IsValidIpv4(string? ip) =>
        ip is not null && ip.Length <= 15 && ip.Count(c => c == '.') == 3 && ip.All(c => c == '.' || char.IsAsciiDigit(c))
        && IPAddress.TryParse(ip, out var parsed) && parsed.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
        && parsed.ToString() == ip;

    /// <summary>Refuses a list of CPU flags that is too long or holds a malformed flag, naming <paramref name="field"/>.</summary>
    public static void ValidateCpuFeatureList(string field, ImmutableArray<string> features) => ValidateCpuFeatures(field, features);

    private static void ValidateCpuFeatures(string field, ImmutableArray<string> features)
    {
        if (features.IsDefault || features.Length > MaxCpuFeatures)
        {
            throw OmigException.Invalid(field, $"at most {MaxCpuFeatures} flags");
        }

        foreach (var f in features)
        {
            if (f is null || !CpuFeaturePattern().IsMatch(f))
            {
                throw OmigException.Invalid(field, $"'{Truncate(f)}' is not a CPU flag (lower-case letters, digits, '_' and '.')");
            }
        }

        if (features.Distinct(StringComparer.Ordinal).Count() != features.Length)
        {
            throw OmigException.Invalid(field, "a flag is listed twice");
        }
    }

    private static void ValidateLabels(string field, ImmutableDictionary<string, string> labels)
    {
        if (labels is null || labels.Count > MaxLabels)
        {
            throw OmigException.Invalid(field, $"at most {MaxLabels} labels");
        }

        foreach (var (key, value) in labels)
        {
            if (!LabelKeyPattern().IsMatch(key))
            {
                throw OmigException.Invalid(field, $"label key '{Truncate(key)}' must be 1-128 of letters, digits, '.', '_', '/', '-'");
            }

            if (value is null || value.Length > MaxLabelLength || value.Any(char.IsControl))
            {
                throw OmigException.Invalid(field, $"label '{key}' value must be at most {MaxLabelLength} printable characters");
            }
        }
    }

    private static void RequireVersion(string field, string? version)
    {
        if (!VersionNumber.IsValid(version))
        {
            throw OmigException.Invalid(field, $"'{Truncate(version)}' is not a dotted numeric version such as 2.4.1");
        }
    }

    private static void RequireText(string field, string? text, int max)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Length > max || text.Any(char.IsControl))
        {
            throw OmigException.Invalid(field, $"must be 1-{max} printable characters");
        }
    }

    private static string Truncate(string? s) => s is null ? "(null)" : s.Length <= 40 ? s : s[..40] + "…";
}
