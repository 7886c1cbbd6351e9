using System.Collections.Concurrent;

namespace OrleansMigrate.Faults;

/// <summary>
/// Faults armed by tests: fail a step the next N times, or delay it. Thread-safe; shared by all grains of
/// a silo through DI, so a test arms it and the next matching action fails wherever it runs.
/// </summary>
public sealed class ScriptedFaults : IFaultInjector
{
    private readonly ConcurrentDictionary<string, int> _failures = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TimeSpan> _delays = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _seen = new();

    /// <summary>Every step seen, in order (bounded to the last 10,000).</summary>
    public IReadOnlyCollection<string> Seen => _seen;

    /// <summary>Makes the next <paramref name="times"/> calls of <paramref name="step"/> throw.</summary>
    public void FailNext(string step, int times = 1) => _failures[step] = times;

    /// <summary>Makes every call of <paramref name="step"/> wait <paramref name="delay"/> first.</summary>
    public void Delay(string step, TimeSpan delay) => _delays[step] = delay;

    public void Clear()
    {
        _failures.Clear();
        _delays.Clear();
    }

    public async ValueTask BeforeAsync(string step, string subject, CancellationToken cancellationToken = default)
    {
        _seen.Enqueue(step);
        while (_seen.Count > 10_000 && _seen.TryDequeue(out _))
        {
        }

        if (_delays.TryGetValue(step, out var delay))
        {
            await Task.Delay(delay, cancellationToken);
        }

        while (_failures.TryGetValue(step, out var left) && left > 0)
        {
            if (_failures.TryUpdate(step, left - 1, left))
            {
                throw new InjectedFaultException(step, subject);
            }
        }
    }
}
