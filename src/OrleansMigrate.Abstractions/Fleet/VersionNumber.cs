namespace OrleansMigrate.Fleet;

/// <summary>Dotted numeric versions (<c>1.2.10</c>), compared part by part as numbers.</summary>
public static class VersionNumber
{
    /// <summary>At most 8 parts, each 0–999,999,999; 1–64 characters.</summary>
    public static bool IsValid(string? version)
    {
        if (string.IsNullOrEmpty(version) || version.Length > 64)
        {
            return false;
        }

        var parts = version.Split('.');
        return parts.Length <= 8 && parts.All(p => p.Length is > 0 and <= 9 && p.All(char.IsAsciiDigit));
    }

    /// <summary>Negative when <paramref name="a"/> is older than <paramref name="b"/>; missing parts count as 0.</summary>
    public static int Compare(string a, string b)
    {
        var pa = a.Split('.');
        var pb = b.Split('.');
        for (var i = 0; i < Math.Max(pa.Length, pb.Length); i++)
        {
            var x = i < pa.Length ? long.Parse(pa[i], System.Globalization.CultureInfo.InvariantCulture) : 0;
            var y = i < pb.Length ? long.Parse(pb[i], System.Globalization.CultureInfo.InvariantCulture) : 0;
            if (x != y)
            {
                return x.CompareTo(y);
            }
        }

        return 0;
    }
}
