using System.IO.Hashing;
using System.Runtime.CompilerServices;

namespace OrleansMigrate.Hypervisor.Sessions;

/// <summary>
/// A VM's connection-tracking table on its host's vSwitch: 5-tuple → state and counters. While a migration
/// copies it, every upsert and removal marks its key dirty so the table can be copied like memory: the
/// whole table in the first round, then the keys changed since the previous round (deletions included),
/// and the last delta inside the switchover.
/// </summary>
public sealed class SessionTable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<FlowKey, SessionEntry> _entries = [];
    private HashSet<FlowKey> _dirty = [];
    private HashSet<FlowKey> _spare = [];
    private bool _tracking;

    /// <summary>Live sessions.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _entries.Count;
        }
    }

    /// <summary>Keys changed since the last harvest (0 when not tracking).</summary>
    public int PendingChanges
    {
        get
        {
            lock (_lock)
                return _dirty.Count;
        }
    }

    public bool IsTracking
    {
        get
        {
            lock (_lock)
                return _tracking;
        }
    }

    /// <summary>Inserts or updates a session.</summary>
    public void Upsert(FlowKey key, SessionEntry entry)
    {
        lock (_lock)
        {
            _entries[key] = entry;
            if (_tracking)
                _dirty.Add(key);
        }
    }

    /// <summary>Removes a session (expiry); returns false when it was not there.</summary>
    public bool Remove(FlowKey key)
    {
        lock (_lock)
        {
            if (!_entries.Remove(key))
                return false;
            if (_tracking)
                _dirty.Add(key);
            return true;
        }
    }

    public bool TryGet(FlowKey key, out SessionEntry entry)
    {
        lock (_lock)
            return _entries.TryGetValue(key, out entry);
    }

    /// <summary>Removes every session (no change tracking: used to reset a destination).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _entries.Clear();
            _dirty.Clear();
        }
    }

    /// <summary>Starts change tracking with every current key dirty, so the first harvest is the whole table.</summary>
    public void StartTracking()
    {
        lock (_lock)
        {
            _tracking = true;
            _dirty.Clear();
            foreach (var key in _entries.Keys)
                _dirty.Add(key);
        }
    }

    /// <summary>Stops change tracking and forgets pending changes.</summary>
    public void StopTracking()
    {
        lock (_lock)
        {
            _tracking = false;
            _dirty.Clear();
        }
    }

    /// <summary>Order-independent digest of the whole table; equal tables have equal digests.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public SessionTableDigest ComputeDigest()
    {
        Span<byte> record = stackalloc byte[SessionDeltaCodec.RecordSize];
        ulong hash = 0;
        lock (_lock)
        {
            foreach (var (key, entry) in _entries)
            {
                SessionDeltaCodec.Write(record, new SessionDeltaRecord(key, Deleted: false, entry));
                hash += XxHash3.HashToUInt64(record);
            }

            return new SessionTableDigest(_entries.Count, hash);
        }
    }

    /// <summary>Entry-by-entry equality with another table.</summary>
    public bool ContentEquals(SessionTable other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var mine = Snapshot();
        var theirs = other.Snapshot();
        if (mine.Count != theirs.Count)
            return false;
        foreach (var (key, entry) in mine)
        {
            if (!theirs.TryGetValue(key, out var found) || found != entry)
                return false;
        }

        return true;
    }

    /// <summary>A copy of the table.</summary>
    public Dictionary<FlowKey, SessionEntry> Snapshot()
    {
        lock (_lock)
            return new Dictionary<FlowKey, SessionEntry>(_entries);
    }

    /// <summary>
    /// Moves the dirty keys into <paramref name="output"/> as records (an upsert with the current value, or a
    /// deletion when the key is gone) and clears them.
    /// </summary>
    internal void HarvestDelta(List<SessionDeltaRecord> output)
    {
        HashSet<FlowKey> harvested;
        lock (_lock)
        {
            harvested = _dirty;
            _dirty = _spare;
            _spare = harvested;
            foreach (var key in harvested)
            {
                output.Add(_entries.TryGetValue(key, out var entry)
                    ? new SessionDeltaRecord(key, Deleted: false, entry)
                    : new SessionDeltaRecord(key, Deleted: true, default));
            }

            harvested.Clear();
        }
    }

    /// <summary>Applies one received change (destination side). While tracking, the key is marked dirty, so a
    /// destination that mirrors the table elsewhere (the host's conntrack) can harvest what arrived.</summary>
    internal void Apply(in SessionDeltaRecord record)
    {
        lock (_lock)
        {
            if (record.Deleted)
                _entries.Remove(record.Key);
            else
                _entries[record.Key] = record.Entry;
            if (_tracking)
                _dirty.Add(record.Key);
        }
    }
}
