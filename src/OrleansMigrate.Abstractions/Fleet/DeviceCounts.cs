using System.Collections.Immutable;
using System.Globalization;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Fleet;

/// <summary>Parsing and sums of <see cref="DeviceCount"/> lists (a host's inventory, a VM's request, a placement's hold).</summary>
public static class DeviceCounts
{
    /// <summary>Parses <c>KIND:MODEL:COUNT</c>; an error names <paramref name="field"/>, the part that is wrong and why.</summary>
    public static DeviceCount Parse(string field, string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw OmigException.Invalid(field, "is empty: write KIND:MODEL:COUNT, e.g. gpu:A10:1");
        }

        var parts = text.Trim().Split(':');
        if (parts.Length != 3)
        {
            throw OmigException.Invalid(field, $"'{Short(text)}' is not KIND:MODEL:COUNT (e.g. gpu:A10:1, vf:mlx5:2)");
        }

        if (!TryParseKind(parts[0], out var kind))
        {
            throw OmigException.Invalid(field, $"kind '{Short(parts[0])}' in '{Short(text)}' is not one of {KindList}");
        }

        if (!FleetValidation.IsValidDeviceModel(parts[1]))
        {
            throw OmigException.Invalid(field, $"model '{Short(parts[1])}' in '{Short(text)}' must be 1-64 of letters, digits, '.', '_' and '-'");
        }

        if (!int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count < 1 || count > FleetValidation.MaxDeviceCount)
        {
            throw OmigException.Invalid(field, $"count '{Short(parts[2])}' in '{Short(text)}' is not a whole number from 1 to {FleetValidation.MaxDeviceCount}");
        }

        return new DeviceCount(kind, parts[1], count);
    }

    /// <summary>Parses every <paramref name="texts"/> (a repeatable flag); the same kind and model twice is refused.</summary>
    public static ImmutableArray<DeviceCount> ParseAll(string field, IEnumerable<string>? texts)
    {
        var devices = (texts ?? []).Select(t => Parse(field, t)).ToImmutableArray();
        FleetValidation.ValidateDevices(field, devices, FleetValidation.MaxDeviceCount);
        return devices;
    }

    /// <summary>The kinds, as written: <c>gpu, fpga, vf, vgpu</c>.</summary>
    public static string KindList => string.Join(", ", Enum.GetValues<DeviceKind>().Select(DeviceCount.KindName));

    public static bool TryParseKind(string text, out DeviceKind kind)
    {
        foreach (var k in Enum.GetValues<DeviceKind>())
        {
            if (DeviceCount.KindName(k) == text)
            {
                kind = k;
                return true;
            }
        }

        kind = default;
        return false;
    }

    /// <summary>The list itself, or empty for a default array (a record stored before devices existed).</summary>
    public static ImmutableArray<DeviceCount> OrEmpty(this ImmutableArray<DeviceCount> devices) => devices.IsDefault ? [] : devices;

    /// <summary>Counts by <see cref="DeviceCount.Key"/>.</summary>
    public static Dictionary<string, int> ByKey(IEnumerable<DeviceCount> devices)
    {
        var sum = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var d in devices)
        {
            sum[d.Key] = sum.GetValueOrDefault(d.Key) + d.Count;
        }

        return sum;
    }

    /// <summary>Same devices in any order (same kinds, models and counts).</summary>
    public static bool SameSet(ImmutableArray<DeviceCount> a, ImmutableArray<DeviceCount> b)
    {
        var x = ByKey(a.OrEmpty());
        var y = ByKey(b.OrEmpty());
        return x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var n) && n == kv.Value);
    }

    /// <summary>The devices as <c>gpu:A10:1, vf:mlx5:2</c> (empty text for none).</summary>
    public static string Describe(ImmutableArray<DeviceCount> devices) => string.Join(", ", devices.OrEmpty().Select(d => d.ToString()));

    private static string Short(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
