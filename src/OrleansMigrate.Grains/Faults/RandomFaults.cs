using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text;

namespace OrleansMigrate.Grains.Faults;

/// <summary>What a fault does to the action it hits.</summary>
public enum FaultKind
{
    /// <summary>The action throws <see cref="InjectedFaultException"/> instead of running.</summary>
    Fail,

    /// <summary>The action runs after <see cref="FaultInjectionOptions.SlowMs"/>.</summary>
    Slow,

    /// <summary>The action hangs for <see cref="FaultInjectionOptions.StallMs"/>, then runs.</summary>
    Stall,
}

/// <summary>
/// Seeded random faults at every seam (<see cref="FaultInjectionOptions"/>). A decision depends only on the seed,
/// the step, the subject and the step's occurrence count on that subject — not on timing or thread interleaving —
/// so the same seed and the same sequence of requests reproduce the same faults. Counts what it injected.
/// </summary>
public sealed class RandomFaults : IFaultInjector
{
    private readonly FaultInjectionOptions _options;
    private readonly string[] _steps;
    private readonly ConcurrentDictionary<(string Step, string Subject), int> _occurrences = new();
    private readonly ConcurrentDictionary<(string Step, FaultKind Kind), int> _injected = new();
    private long _calls;
    private volatile bool _armed;

    /// <param name="armed">False: no fault until <see cref="Arm"/> (e.g. after a fleet is provisioned).</param>
    public RandomFaults(FaultInjectionOptions options, bool armed = true)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Check() is { Count: > 0 } errors)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(options));
        }

        _options = options;
        _steps = [.. options.StepList];
        _armed = armed;
    }

    public FaultInjectionOptions Options => _options;

    /// <summary>Step calls seen while armed.</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>Faults injected so far, by step and kind.</summary>
    public ImmutableSortedDictionary<string, int> Injected =>
        _injected.ToImmutableSortedDictionary(kv => $"{kv.Key.Step}:{kv.Key.Kind.ToString().ToLowerInvariant()}", kv => kv.Value, StringComparer.Ordinal);

    public int InjectedTotal => _injected.Values.Sum();

    public void Arm() => _armed = true;

    public void Disarm() => _armed = false;

    /// <summary>The fault for this call of <paramref name="step"/> on <paramref name="subject"/>, if any; counts the call.</summary>
    public FaultKind? Decide(string step, string subject)
    {
        if (!_armed || !Covers(step))
        {
            return null;
        }

        Interlocked.Increment(ref _calls);
        var n = _occurrences.AddOrUpdate((step, subject), 1, static (_, c) => c + 1);
        var h = Mix(Mix(Mix((ulong)_options.Seed) ^ Fnv(step)) ^ Fnv(subject)) ^ (ulong)n;
        if (Unit(Mix(h)) >= _options.Rate)
        {
            return null;
        }

        var pick = Unit(Mix(h ^ 0x5bd1e995UL)) * (_options.FailWeight + _options.SlowWeight + _options.StallWeight);
        var kind = pick < _options.FailWeight ? FaultKind.Fail : pick < _options.FailWeight + _options.SlowWeight ? FaultKind.Slow : FaultKind.Stall;
        _injected.AddOrUpdate((step, kind), 1, static (_, c) => c + 1);
        return kind;
    }

    public async ValueTask BeforeAsync(string step, string subject, CancellationToken cancellationToken = default)
    {
        switch (Decide(step, subject))
        {
            case FaultKind.Fail:
                throw new InjectedFaultException(step, subject);
            case FaultKind.Slow:
                await Task.Delay(_options.SlowMs, cancellationToken);
                break;
            case FaultKind.Stall:
                await Task.Delay(_options.StallMs, cancellationToken);
                break;
        }
    }

    private bool Covers(string step)
    {
        if (_steps.Length == 0)
        {
            return step is not (Cloud.CloudFaultSteps.DiskCreate or Cloud.CloudFaultSteps.DiskDelete or FaultSteps.SchedulerSave);
        }

        foreach (var s in _steps)
        {
            if (s == step || (s.EndsWith('.') && step.StartsWith(s, StringComparison.Ordinal)))
            {
                return true;
            }
        }

        return false;
    }

    private static ulong Fnv(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }

    /// <summary>SplitMix64's finaliser.</summary>
    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static double Unit(ulong x) => (x >> 11) * (1.0 / (1UL << 53));
}
