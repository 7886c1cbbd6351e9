using System.Collections.Concurrent;

namespace OrleansMigrate.Grains.Faults;

/// <summary>
/// Faults armed by tests: fail a step the next N times, or delay it. Thread-safe; shared by all grains of
/// a silo through DI, so a test arms it and the next matching action fails wherever it runs.
/// </summary>
public sealed class ScriptedFaults : IFaultInjector
{
    private readonly ConcurrentDictionary<string, int> _failures = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TimeSpan> _delays = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Func<string, string, Exception>> _exceptions = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _seen = new();

    /// <summary>Every step seen, in order (bounded to the last 10,000).</summary>
    public IReadOnlyCollection<string> Seen => _seen;

    /// <summary>Makes the next <paramref name="times"/> calls of <paramref name="step"/> throw: an
    /// <see cref="InjectedFaultException"/>, or what <paramref name="exception"/> makes of (step, subject) — e.g. a database
    /// driver's exception, to see the failure the way a real outage reaches callers.</summary>
    public void FailNext(string step, int times = 1, Func<string, string, Exception>? exception = null)
    {
        if (exception is null)
        {
            _exceptions.TryRemove(step, out _);
        }
        else
        {
            _exceptions[step] = exception;
        }

        _failures[step] = times;
    }

    /// <summary>Makes every call of <paramref name="step"/> wait <paramref name="delay"/> first.</summary>
    public void Delay(string step, TimeSpan delay) => _delays[step] = delay;

    public void Clear()
    {
        _failures.Clear();
        _delays.Clear();
        _exceptions.Clear();
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
                throw _exceptions.TryGetValue(step, out var make) ? make(step, subject) : new InjectedFaultException(step, subject);
            }
        }
    }
}
