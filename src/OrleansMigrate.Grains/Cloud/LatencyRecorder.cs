namespace OrleansMigrate.Grains.Cloud;

/// <summary>
/// Measured latencies of a real backend's actions, step name → every measurement in ms, in order: what a benchmark
/// reads and reports (medians), so a real backend's costs are measured, not configured. Thread-safe.
/// </summary>
public sealed class LatencyRecorder
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<double>> _steps = new(StringComparer.Ordinal);

    /// <summary>Adds one measurement of <paramref name="step"/>.</summary>
    public void Record(string step, TimeSpan elapsed)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(step);
        lock (_lock)
        {
            if (!_steps.TryGetValue(step, out var list))
            {
                list = [];
                _steps[step] = list;
            }

            list.Add(elapsed.TotalMilliseconds);
        }
    }

    /// <summary>A copy of every measurement so far, step → ms in recording order.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<double>> Snapshot()
    {
        lock (_lock)
        {
            return _steps.ToDictionary(p => p.Key, p => (IReadOnlyList<double>)[.. p.Value], StringComparer.Ordinal);
        }
    }

    /// <summary>The median of <paramref name="step"/>'s measurements in ms, or null when it has none.</summary>
    public double? Median(string step)
    {
        double[] values;
        lock (_lock)
        {
            if (!_steps.TryGetValue(step, out var list) || list.Count == 0)
            {
                return null;
            }

            values = [.. list];
        }

        Array.Sort(values);
        var mid = values.Length / 2;
        return values.Length % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }

    /// <summary>Forgets every measurement.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _steps.Clear();
        }
    }
}
