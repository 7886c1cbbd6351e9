using System.Net;

namespace OrleansMigrate.Hypervisor.Sessions.Conntrack;

/// <summary>Counters of a <see cref="ConntrackSessionSource"/>.</summary>
/// <param name="FullReads">Whole-table reads (the first copy, after an overrun, or every sync when events are incomplete).</param>
/// <param name="Overruns">Event-socket overruns (ENOBUFS) seen; each was followed by a full read.</param>
/// <param name="Events">Events about the VM's address received.</param>
/// <param name="Refreshed">Entries re-read because an event named them.</param>
/// <param name="Upserts">Sessions inserted or changed in the table.</param>
/// <param name="Removals">Sessions removed from the table.</param>
/// <param name="Skipped">Entries of the VM that cannot be carried (NAT, zone ≠ 0, other protocols), as of the last read.</param>
public sealed record ConntrackSourceStatistics(long FullReads, long Overruns, long Events, long Refreshed, long Upserts, long Removals, long Skipped);

/// <summary>
/// The source side of the conntrack sessions backend: keeps a <see cref="SessionTable"/> equal to the conntrack
/// entries of one VM address on this host, so the data plane's session rounds copy them like memory. <see cref="Start"/>
/// subscribes to conntrack events first and then reads the whole table (nothing changed in between is lost); each
/// <see cref="Sync"/> drains the events (the dirty log), reads the named entries' current state (batched GETs: the event
/// order cannot leave a stale value) and applies the differences to the table. An overrun of the event socket, or a
/// namespace whose <c>nf_conntrack_events</c> is not 1 (entries made before the subscription send no events), makes the
/// sync read the whole table again instead. Changes of only the time left are not copied (it falls every second).
/// In the switchover, call <see cref="Sync"/> once after the VM is paused and before the final session delta.
/// </summary>
public sealed class ConntrackSessionSource : IDisposable
{
    private readonly Lock _lock = new();
    private readonly string? _namespace;
    private readonly int _eventBufferBytes;
    private ConntrackClient? _client;
    private ConntrackEventStream? _events;
    private bool _eventsComplete;
    private long _fullReads, _overruns, _eventCount, _refreshed, _upserts, _removals, _skipped;

    /// <param name="ns">The host's network namespace (null: this process's own, as the host agent runs in it).</param>
    /// <param name="vmAddress">The VM's IPv4 address: entries whose original or reply tuple has it are the VM's sessions.</param>
    /// <param name="table">The table the data plane copies (the source VM's <c>Sessions</c>).</param>
    public ConntrackSessionSource(string? ns, IPAddress vmAddress, SessionTable table, int eventBufferBytes = 8 * 1024 * 1024)
    {
        ArgumentNullException.ThrowIfNull(vmAddress);
        ArgumentNullException.ThrowIfNull(table);
        _namespace = ns;
        Address = ConntrackAddress.From(vmAddress);
        Table = table;
        _eventBufferBytes = eventBufferBytes;
    }

    /// <summary>The VM's address, host byte order.</summary>
    public uint Address { get; }

    public SessionTable Table { get; }

    /// <summary>Whether the event stream reports every change (<c>nf_conntrack_events</c> is 1 in the namespace); when
    /// false every <see cref="Sync"/> reads the whole table.</summary>
    public bool EventsComplete
    {
        get
        {
            lock (_lock)
                return _eventsComplete;
        }
    }

    public ConntrackSourceStatistics Statistics
    {
        get
        {
            lock (_lock)
                return new ConntrackSourceStatistics(_fullReads, _overruns, _eventCount, _refreshed, _upserts, _removals, _skipped);
        }
    }

    /// <summary>Subscribes to the events, then reads the VM's entries into the table. Throws
    /// <see cref="ConntrackException"/> when ctnetlink cannot be used.</summary>
    public void Start()
    {
        lock (_lock)
        {
            if (_client is not null)
                throw new InvalidOperationException("The conntrack session source is already started.");
            _events = ConntrackEventStream.Open(_namespace, _eventBufferBytes);
            _client = ConntrackClient.Open(_namespace);
            _eventsComplete = ConntrackEventStream.EventsSysctl(_namespace) == 1;
            FullRead();
        }
    }

    /// <summary>Brings the table up to date with conntrack (see the class summary); returns the number of table
    /// changes made.</summary>
    public int Sync()
    {
        lock (_lock)
        {
            if (_client is null || _events is null)
                throw new InvalidOperationException("The conntrack session source is not started.");
            var batch = _events.Read(TimeSpan.Zero, e => e.Involves(Address));
            _eventCount += batch.Events.Count;
            if (batch.Overrun)
            {
                _overruns++;
                return FullRead();
            }

            if (!_eventsComplete)
                return FullRead();
            if (batch.Events.Count == 0)
                return 0;
            var dirty = new HashSet<ConntrackTuple>();
            foreach (var e in batch.Events)
            {
                if (ConntrackSessionMap.Check(e.Entry) == ConntrackSkipReason.None)
                    dirty.Add(e.Entry.Original);
            }

            var tuples = dirty.ToList();
            var current = _client.Get(tuples);
            _refreshed += tuples.Count;
            var changes = 0;
            for (var i = 0; i < tuples.Count; i++)
            {
                var key = ConntrackSessionMap.KeyOf(tuples[i]);
                if (current[i] is { } entry && ConntrackSessionMap.Check(entry) == ConntrackSkipReason.None)
                    changes += Upsert(entry) ? 1 : 0;
                else if (Table.Remove(key))
                {
                    _removals++;
                    changes++;
                }
            }

            return changes;
        }
    }

    /// <summary>Runs <see cref="Sync"/> every <paramref name="interval"/> until cancelled (the source host's pump
    /// while the migration's rounds run).</summary>
    public async Task RunAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        if (interval < TimeSpan.FromMilliseconds(1) || interval > TimeSpan.FromMinutes(1))
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "interval must be 1 ms..1 min");
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Run(Sync, cancellationToken).ConfigureAwait(false);
            try
            {
                await Task.Delay(interval, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>The VM's carried entries as conntrack holds them now (for a comparison with the destination).</summary>
    public List<ConntrackEntry> ReadBack()
    {
        lock (_lock)
        {
            var client = _client ?? throw new InvalidOperationException("The conntrack session source is not started.");
            return client.Dump(e => e.Involves(Address) && ConntrackSessionMap.Check(e) == ConntrackSkipReason.None);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _events?.Dispose();
            _client?.Dispose();
            _events = null;
            _client = null;
        }
    }

    private int FullRead()
    {
        var entries = _client!.Dump(e => e.Involves(Address));
        _fullReads++;
        var before = Table.Snapshot();
        var seen = new HashSet<FlowKey>();
        var changes = 0;
        long skipped = 0;
        foreach (var entry in entries)
        {
            if (ConntrackSessionMap.Check(entry) != ConntrackSkipReason.None)
            {
                skipped++;
                continue;
            }

            seen.Add(ConntrackSessionMap.KeyOf(entry.Original));
            changes += Upsert(entry) ? 1 : 0;
        }

        foreach (var key in before.Keys)
        {
            if (!seen.Contains(key) && Table.Remove(key))
            {
                _removals++;
                changes++;
            }
        }

        _skipped = skipped;
        return changes;
    }

    private bool Upsert(ConntrackEntry entry)
    {
        var (key, session) = ConntrackSessionMap.ToSession(entry);
        if (Table.TryGet(key, out var existing) && ConntrackSessionMap.SameIgnoringTimeout(existing, session))
            return false;
        Table.Upsert(key, session);
        _upserts++;
        return true;
    }
}
