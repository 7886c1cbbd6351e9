using System.Collections.Immutable;
using System.Globalization;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Client.Parsing;

/// <summary>Parsers for the value syntaxes of the CLI (and any tool that takes the same text); each error names the flag.</summary>
public static class CliParsers
{
    /// <summary>A memory size in MiB: plain MiB (<c>4096</c>) or with a unit <c>M</c>, <c>G</c>, <c>T</c> (<c>4G</c>, <c>512M</c>).</summary>
    public static long ParseMemoryMiB(string field, string text)
    {
        var t = text.Trim();
        long factor = 1;
        if (t.Length > 1 && t[^1] is 'i' or 'I' && char.IsAsciiLetter(t[^2]))
        {
            // Binary units written out (64Gi, 512Mi) mean the same here: sizes are always powers of 1024.
            t = t[..^1];
        }

        if (t.Length > 0 && char.IsAsciiLetter(t[^1]))
        {
            var unit = char.ToUpperInvariant(t[^1]);
            t = t[..^1];

            factor = unit switch
            {
                'M' => 1,
                'G' => 1024,
                'T' => 1024 * 1024,
                _ => throw OmigException.Invalid(field, $"'{text}' has an unknown unit; use M, G or T"),
            };
        }

        if (!long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0 || value > long.MaxValue / factor)
        {
            throw OmigException.Invalid(field, $"'{text}' is not a positive size such as 4096, 512M or 64G");
        }

        return value * factor;
    }

    public static ImmutableArray<string> ParseList(string? text) =>
        string.IsNullOrWhiteSpace(text) ? [] : [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    public static ImmutableDictionary<string, string> ParseLabels(string field, IEnumerable<string>? pairs)
    {
        var labels = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs ?? [])
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw OmigException.Invalid(field, $"'{pair}' is not KEY=VALUE");
            }

            if (!labels.TryAdd(pair[..eq], pair[(eq + 1)..]))
            {
                throw OmigException.Invalid(field, $"label '{pair[..eq]}' is given twice");
            }
        }

        return labels.ToImmutable();
    }

    /// <summary><c>ID:SIZE_GIB</c>, e.g. <c>vm1-root:40</c>.</summary>
    public static DiskSpec ParseDisk(string text)
    {
        var parts = text.Split(':');
        if (parts.Length != 2 || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size))
        {
            throw OmigException.Invalid("--disk", $"'{text}' is not ID:SIZE_GIB (e.g. vm1-root:40)");
        }

        return new DiskSpec(parts[0], size);
    }

    /// <summary><c>VPC:IP[:MAC]</c>; without a MAC one is derived from the VM id and IP (locally administered).</summary>
    public static NicSpec ParseNic(string text, string vmId)
    {
        var parts = text.Split(':', 3);
        if (parts.Length < 2)
        {
            throw OmigException.Invalid("--nic", $"'{text}' is not VPC:IP[:MAC] (e.g. vpc-1:10.0.0.5)");
        }

        return new NicSpec(parts[0], parts[1], parts.Length == 3 ? parts[2] : DeriveMac(vmId, parts[1]));
    }

    /// <summary><c>ADDRESS=KIND</c>, e.g. <c>0000:3b:00.0=gpu</c>.</summary>
    public static PassthroughDevice ParsePassthrough(string text)
    {
        var eq = text.LastIndexOf('=');
        if (eq <= 0)
        {
            throw OmigException.Invalid("--passthrough", $"'{text}' is not PCI_ADDRESS=KIND (e.g. 0000:3b:00.0=gpu)");
        }

        return new PassthroughDevice(text[..eq], text[(eq + 1)..]);
    }

    /// <summary>A stable, locally administered unicast MAC (02:…) from the VM id and IP.</summary>
    public static string DeriveMac(string vmId, string ip)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(vmId + "/" + ip));
        return "02:" + string.Join(':', hash.Take(5).Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
    }
}
