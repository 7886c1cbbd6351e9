using System.Globalization;

namespace OrleansMigrate.Api.Tests;

/// <summary>Reads Prometheus text exposition: the samples of a metric, summed over labels.</summary>
public static class Prometheus
{
    /// <summary>Every metric name with at least one sample.</summary>
    public static IReadOnlySet<string> Names(string text) =>
        Samples(text).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);

    /// <summary>The sum of every sample of <paramref name="name"/> (any labels); null when there is none.</summary>
    public static double? Sum(string text, string name)
    {
        var values = Samples(text).Where(s => s.Name == name).Select(s => s.Value).ToList();
        return values.Count == 0 ? null : values.Sum();
    }

    private static IEnumerable<(string Name, double Value)> Samples(string text)
    {
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var end = line.IndexOfAny(['{', ' ']);
            var name = line[..end];
            var rest = line[end..];
            if (rest.StartsWith('{'))
            {
                rest = rest[(rest.LastIndexOf('}') + 1)..];
            }

            var parts = rest.Trim().Split(' ');
            if (double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                yield return (name, value);
            }
        }
    }
}
