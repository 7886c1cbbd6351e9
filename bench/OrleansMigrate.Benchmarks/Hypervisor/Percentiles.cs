namespace OrleansMigrate.Hypervisor.Bench;

/// <summary>Percentiles by linear interpolation between order statistics (R type 7, numpy's default).</summary>
public static class Percentiles
{
    /// <param name="values">Samples (any order).</param>
    /// <param name="percentile">0..100.</param>
    public static double Of(IReadOnlyList<double> values, double percentile)
    {
        if (values.Count == 0)
            return double.NaN;
        var sorted = values.Order().ToArray();
        var rank = percentile / 100 * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + ((rank - low) * (sorted[high] - sorted[low]));
    }
}
