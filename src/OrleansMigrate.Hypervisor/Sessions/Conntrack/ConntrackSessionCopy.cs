using System.Diagnostics;
using System.Net;

namespace OrleansMigrate.Hypervisor.Sessions.Conntrack;

/// <summary>One round of a VM's sessions as they travel: the changed entries as <see cref="SessionDeltaCodec"/> records.</summary>
/// <param name="Round">1 for the full first copy, then one per round of changes; the final delta is the last.</param>
/// <param name="Entries">Records in <paramref name="Records"/>.</param>
/// <param name="Records">The records, <see cref="SessionDeltaCodec.RecordSize"/> bytes each.</param>
/// <param name="SyncMs">How long reading conntrack's changes into the table took on the source.</param>
public sealed record SessionRound(int Round, int Entries, byte[] Records, double SyncMs);

/// <summary>What the destination did with one <see cref="SessionRound"/>.</summary>
/// <param name="Round">The round applied.</param>
/// <param name="Written">Entries created or updated in the destination host's conntrack.</param>
/// <param name="Deleted">Entries deleted there.</param>
/// <param name="Failed">Entries the kernel refused; <paramref name="FirstFailure"/> says why for the first.</param>
/// <param name="ApplyMs">How long decoding and writing took.</param>
public sealed record SessionRoundApplied(int Round, int Written, int Deleted, int Failed, string? FirstFailure, double ApplyMs);

/// <summary>
/// The source side of copying a VM's session table — its conntrack entries on this host — to the destination host,
/// the way memory is copied: <see cref="NextRound"/> first returns every entry (the full first copy), then only what
/// changed since the round before (conntrack's event stream is the dirty log); called once more after the VM paused it
/// returns the final delta. The rounds travel by whatever channel the agents share; <see cref="ConntrackSessionReceiver"/>
/// applies them on the destination.
/// </summary>
public sealed class ConntrackSessionSender : IDisposable
{
    private readonly Lock _lock = new();
    private readonly ConntrackSessionSource _source;
    private readonly List<SessionDeltaRecord> _scratch = [];
    private int _round;

    /// <param name="ns">The source host's network namespace (null: this process's own: the host agent runs in it).</param>
    /// <param name="vmAddress">The VM's IPv4 address.</param>
    public ConntrackSessionSender(string? ns, IPAddress vmAddress, int eventBufferBytes = 8 * 1024 * 1024)
    {
        Table = new SessionTable();
        _source = new ConntrackSessionSource(ns, vmAddress, Table, eventBufferBytes);
    }

    /// <summary>The VM's sessions as last read from conntrack.</summary>
    public SessionTable Table { get; }

    /// <summary>Entries in the last round taken (the final delta, once the final round is taken).</summary>
    public int LastRoundEntries
    {
        get
        {
            lock (_lock)
                return _scratch.Count;
        }
    }

    /// <summary>How the source read conntrack so far (full reads, overruns, events…).</summary>
    public ConntrackSourceStatistics Statistics => _source.Statistics;

    /// <summary>Subscribes to conntrack's events, reads the VM's entries and marks them all for the first round. Throws
    /// <see cref="ConntrackException"/> when ctnetlink cannot be used.</summary>
    public void Start()
    {
        lock (_lock)
        {
            _source.Start();
            Table.StartTracking();
        }
    }

    /// <summary>Reads conntrack's changes into the table and returns what changed since the last round (everything, the
    /// first time) as the next round. With <paramref name="evenIfEmpty"/> false, no change returns null and takes no round
    /// number, so the rounds the destination sees stay consecutive.</summary>
    public SessionRound? NextRound(bool evenIfEmpty = true)
    {
        lock (_lock)
        {
            var started = Stopwatch.GetTimestamp();
            _source.Sync();
            var syncMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            _scratch.Clear();
            Table.HarvestDelta(_scratch);
            if (_scratch.Count == 0 && !evenIfEmpty && _round > 0)
                return null;
            var records = new byte[_scratch.Count * SessionDeltaCodec.RecordSize];
            for (var i = 0; i < _scratch.Count; i++)
                SessionDeltaCodec.Write(records.AsSpan(i * SessionDeltaCodec.RecordSize), _scratch[i]);
            return new SessionRound(++_round, _scratch.Count, records, syncMs);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _source.Dispose();
            Table.StopTracking();
        }
    }
}

/// <summary>
/// The destination side: applies each <see cref="SessionRound"/> to the VM's session table and writes the changes into
/// this host's conntrack at once (created/updated, deleted), so the host's stateful firewall passes the VM's established
/// connections the moment it resumes here. Every entry's answer is checked; refusals are counted and named, never
/// dropped silently.
/// </summary>
public sealed class ConntrackSessionReceiver : IDisposable
{
    private readonly Lock _lock = new();
    private readonly ConntrackSessionSink _sink;
    private int _lastRound;

    /// <param name="ns">The destination host's network namespace (null: this process's own).</param>
    public ConntrackSessionReceiver(string? ns)
    {
        Table = new SessionTable();
        _sink = new ConntrackSessionSink(ns, Table);
    }

    /// <summary>The VM's sessions as received so far.</summary>
    public SessionTable Table { get; }

    /// <summary>The last round applied; 0 before the first.</summary>
    public int LastRound
    {
        get
        {
            lock (_lock)
                return _lastRound;
        }
    }

    /// <summary>Opens ctnetlink on this host. Throws <see cref="ConntrackException"/> when it cannot be used.</summary>
    public void Start()
    {
        lock (_lock)
            _sink.Start();
    }

    /// <summary>Applies one round. A round already applied (a resent one) is not applied twice; a round that skips one
    /// is refused (<see cref="InvalidOperationException"/>): the table would miss the changes in between.
    /// A malformed round throws <see cref="InvalidDataException"/> and nothing of it is applied.</summary>
    public SessionRoundApplied Apply(SessionRound round)
    {
        ArgumentNullException.ThrowIfNull(round);
        if (round.Records.Length != round.Entries * SessionDeltaCodec.RecordSize)
            throw new InvalidDataException($"Session round {round.Round} carries {round.Records.Length} bytes for {round.Entries} records of {SessionDeltaCodec.RecordSize}.");
        lock (_lock)
        {
            if (round.Round <= _lastRound)
                return new SessionRoundApplied(round.Round, 0, 0, 0, null, 0);
            if (round.Round != _lastRound + 1)
                throw new InvalidOperationException($"Session round {round.Round} arrived after round {_lastRound}: the rounds in between are missing.");
            var started = Stopwatch.GetTimestamp();
            var records = new SessionDeltaRecord[round.Entries];
            try
            {
                for (var i = 0; i < records.Length; i++)
                    records[i] = SessionDeltaCodec.Read(round.Records.AsSpan(i * SessionDeltaCodec.RecordSize));
            }
            catch (Framing.FrameFormatException ex)
            {
                throw new InvalidDataException($"Session round {round.Round}: {ex.Message}", ex);
            }

            foreach (var record in records)
                Table.Apply(record);
            var result = _sink.Flush();

            // A round some of whose entries the kernel refused is not done: sent again, it is applied (and its
            // entries written) again, never taken for one already applied.
            if (result.Failures.Count == 0)
                _lastRound = round.Round;
            var first = result.Failures.Count > 0 ? result.Failures[0].ToString() : null;
            return new SessionRoundApplied(round.Round, result.Written, result.Deleted, result.Failures.Count, first,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    /// <summary>The carried entries of <paramref name="vmAddress"/> as this host's conntrack holds them now.</summary>
    public List<ConntrackEntry> ReadBack(IPAddress vmAddress) => _sink.ReadBack(vmAddress);

    /// <summary>Deletes every entry this receiver carried from this host's conntrack (the migration did not happen).</summary>
    public ConntrackSinkResult RemoveAll()
    {
        lock (_lock)
        {
            foreach (var key in Table.Snapshot().Keys)
                Table.Remove(key);
            return _sink.Flush();
        }
    }

    public void Dispose()
    {
        lock (_lock)
            _sink.Dispose();
    }
}
