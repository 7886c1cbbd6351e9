namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// Threads that dirty guest pages at a target rate: each write bumps the page's generation, rewrites the
/// whole page from (index, generation) and then marks it in the dirty bitmap. Writes happen in short
/// critical sections of the <see cref="PauseGate"/>, so a pause stops them within a few microseconds and no
/// write is in flight while the VM is paused. Thread <c>t</c> of <c>T</c> owns pages with index mod T = t,
/// so a page never has two writers.
/// </summary>
internal sealed class GuestWorkload : IDisposable
{
    private const int PagesPerSection = 16;
    private const double MaxBacklogSeconds = 0.01;

    private readonly GuestMemory _memory;
    private readonly uint[] _generations;
    private readonly PageClass[] _classes;
    private readonly DirtyBitmap _dirty;
    private readonly PauseGate _gate;
    private readonly GuestWorkloadOptions _options;
    private readonly TimeProvider _time;
    private readonly ulong _seed;
    private readonly Thread[] _threads;
    private readonly long[] _writes;
    private readonly int _rangePages;
    private long _startTimestamp;
    private volatile bool _stop;
    private bool _started;

    public GuestWorkload(GuestMemory memory, uint[] generations, PageClass[] classes, DirtyBitmap dirty, PauseGate gate, GuestWorkloadOptions options, TimeProvider time, ulong seed, string name)
    {
        _memory = memory;
        _generations = generations;
        _classes = classes;
        _dirty = dirty;
        _gate = gate;
        _options = options;
        _time = time;
        _seed = seed;
        _rangePages = options.Pattern == DirtyPattern.HotSet
            ? (int)Math.Min(memory.PageCount, (long)options.HotSetMiB * (1 << 20) / GuestMemory.PageSize)
            : memory.PageCount;
        _threads = new Thread[Math.Min(options.Threads, _rangePages)];
        // One cache line per counter so threads do not share lines.
        _writes = new long[_threads.Length * 8];
        for (var t = 0; t < _threads.Length; t++)
        {
            var number = t;
            _threads[t] = new Thread(() => Run(number)) { IsBackground = true, Name = $"{name}-workload-{t}" };
        }
    }

    /// <summary>Page writes since boot by this workload.</summary>
    public long PageWrites
    {
        get
        {
            long total = 0;
            for (var t = 0; t < _threads.Length; t++)
                total += Volatile.Read(ref _writes[t * 8]);
            return total;
        }
    }

    public void Start()
    {
        _startTimestamp = _time.GetTimestamp();
        _started = true;
        foreach (var thread in _threads)
            thread.Start();
    }

    public void Dispose()
    {
        _stop = true;
        if (!_started)
            return;
        foreach (var thread in _threads)
            thread.Join();
    }

    /// <summary>Pages per second the whole workload should write at <paramref name="timestamp"/>.</summary>
    private double RateAt(long timestamp)
    {
        var rate = _options.DirtyMegabytesPerSecond * 1e6 / GuestMemory.PageSize;
        if (_options.Surge is { } surge)
        {
            var elapsedMs = (timestamp - _startTimestamp) * 1000.0 / _time.TimestampFrequency;
            if (elapsedMs >= surge.StartMs && elapsedMs < surge.StartMs + surge.DurationMs)
                rate *= surge.Multiplier;
        }

        return rate;
    }

    private void Run(int number)
    {
        var threads = _threads.Length;
        var slots = (_rangePages + threads - 1 - number) / threads;
        var random = _seed ^ ((ulong)(number + 1) * 0x9E37_79B9_7F4A_7C15UL) ^ (ulong)_startTimestamp;
        if (random == 0)
            random = 1;
        PacedLoop.Run(_time, _gate, () => _stop, now => RateAt(now) / threads, PagesPerSection, MaxBacklogSeconds, count =>
        {
            for (var i = 0; i < count; i++)
            {
                random ^= random << 13;
                random ^= random >> 7;
                random ^= random << 17;
                var page = (int)(random % (ulong)slots * (ulong)threads) + number;
                var generation = ++_generations[page];
                PageContent.Fill(_memory.Page(page), page, generation, _classes[page], _seed);
                _dirty.Mark(page);
            }

            Interlocked.Add(ref _writes[number * 8], count);
        });
    }
}
