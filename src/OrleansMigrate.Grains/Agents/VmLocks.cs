namespace OrleansMigrate.Grains.Agents;

/// <summary>
/// One async lock per VM id, created on first use and dropped when its last holder or waiter leaves, so a host runtime
/// serving many VMs keeps no lock for a VM it no longer handles. Operations on one VM queue behind each other;
/// operations on different VMs never wait for each other.
/// </summary>
internal sealed class VmLocks
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>VM ids with a lock held or awaited now (for tests: zero once every operation has finished).</summary>
    public int Count
    {
        get
        {
            lock (_entries)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Waits for the lock of <paramref name="vmId"/>; dispose the result to release it.</summary>
    public async Task<Held> AcquireAsync(string vmId)
    {
        Entry entry;
        lock (_entries)
        {
            if (!_entries.TryGetValue(vmId, out entry!))
            {
                entry = new Entry();
                _entries[vmId] = entry;
            }

            // Counted before waiting, so the entry outlives every waiter and a newcomer finds the same semaphore.
            entry.Users++;
        }

        try
        {
            await entry.Gate.WaitAsync();
        }
        catch
        {
            Leave(vmId, entry, release: false);
            throw;
        }

        return new Held(this, vmId, entry);
    }

    private void Leave(string vmId, Entry entry, bool release)
    {
        if (release)
        {
            entry.Gate.Release();
        }

        lock (_entries)
        {
            if (--entry.Users == 0)
            {
                _entries.Remove(vmId);
                entry.Gate.Dispose();
            }
        }
    }

    internal sealed class Entry
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public int Users { get; set; }
    }

    /// <summary>A held VM lock; disposing it releases the lock once.</summary>
    public readonly struct Held : IDisposable
    {
        private readonly VmLocks _owner;
        private readonly string _vmId;
        private readonly Entry _entry;

        internal Held(VmLocks owner, string vmId, Entry entry) => (_owner, _vmId, _entry) = (owner, vmId, entry);

        public void Dispose() => _owner.Leave(_vmId, _entry, release: true);
    }
}
