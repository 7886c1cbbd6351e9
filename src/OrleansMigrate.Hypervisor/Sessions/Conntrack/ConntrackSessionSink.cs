namespace OrleansMigrate.Hypervisor.Sessions.Conntrack;

/// <summary>What one <see cref="ConntrackSessionSink.Flush"/> did.</summary>
/// <param name="Written">Entries created or updated.</param>
/// <param name="Deleted">Entries deleted (or already gone).</param>
/// <param name="Failures">Entries the kernel refused, each with its errno, plus sessions that carry no conntrack
/// detail (errno 22, EINVAL).</param>
public sealed record ConntrackSinkResult(int Written, int Deleted, IReadOnlyList<ConntrackEntryFailure> Failures)
{
    public bool AllSucceeded => Failures.Count == 0;

    /// <summary>Throws <see cref="ConntrackException"/> listing up to ten failures unless all succeeded.</summary>
    public void ThrowIfFailed()
    {
        if (Failures.Count > 0)
            new ConntrackBatchResult(Written + Deleted + Failures.Count, Written + Deleted, Failures).ThrowIfFailed("applying sessions to conntrack");
    }
}

/// <summary>
/// The destination side of the conntrack sessions backend: writes what the data plane's session rounds applied to the
/// destination VM's <see cref="SessionTable"/> into this host's conntrack — created or updated with
/// <c>IPCTNL_MSG_CT_NEW</c>/<c>NLM_F_CREATE</c>, removed with <c>IPCTNL_MSG_CT_DELETE</c>, in batches with every
/// entry's answer checked. <see cref="Start"/> begins change tracking on the table (the session rounds' applies mark
/// their keys); each <see cref="Flush"/> harvests those keys. Flush after each round and once after the final delta,
/// before the VM resumes on this host.
/// </summary>
public sealed class ConntrackSessionSink : IDisposable
{
    private readonly Lock _lock = new();
    private readonly string? _namespace;
    private readonly List<SessionDeltaRecord> _scratch = [];
    private ConntrackClient? _client;

    /// <param name="ns">The destination host's network namespace (null: this process's own).</param>
    /// <param name="table">The destination VM's session table the data plane applies rounds to.</param>
    public ConntrackSessionSink(string? ns, SessionTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        _namespace = ns;
        Table = table;
    }

    public SessionTable Table { get; }

    /// <summary>Opens ctnetlink and starts tracking the table (sessions already in it are written by the first flush).
    /// Throws <see cref="ConntrackException"/> when ctnetlink cannot be used.</summary>
    public void Start()
    {
        lock (_lock)
        {
            if (_client is not null)
                throw new InvalidOperationException("The conntrack session sink is already started.");
            _client = ConntrackClient.Open(_namespace);
            Table.StartTracking();
        }
    }

    /// <summary>Writes the table's changes since the last flush to conntrack.</summary>
    public ConntrackSinkResult Flush()
    {
        lock (_lock)
        {
            if (_client is null)
                throw new InvalidOperationException("The conntrack session sink is not started.");
            _scratch.Clear();
            Table.HarvestDelta(_scratch);
            return Apply(_client, _scratch);
        }
    }

    /// <summary>The carried entries involving <paramref name="vmAddress"/> as this host's conntrack holds them now.</summary>
    public List<ConntrackEntry> ReadBack(System.Net.IPAddress vmAddress)
    {
        var address = ConntrackAddress.From(vmAddress);
        lock (_lock)
        {
            var client = _client ?? throw new InvalidOperationException("The conntrack session sink is not started.");
            return client.Dump(e => e.Involves(address) && ConntrackSessionMap.Check(e) == ConntrackSkipReason.None);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _client?.Dispose();
            _client = null;
            Table.StopTracking();
        }
    }

    internal static ConntrackSinkResult Apply(ConntrackClient client, IReadOnlyList<SessionDeltaRecord> records)
    {
        var failures = new List<ConntrackEntryFailure>();
        var writes = new List<ConntrackEntry>();
        var writeIndex = new List<int>();
        var deletes = new List<ConntrackTuple>();
        var deleteIndex = new List<int>();
        for (var i = 0; i < records.Count; i++)
        {
            var r = records[i];
            if (r.Deleted)
            {
                deletes.Add(ConntrackSessionMap.TupleOf(r.Key));
                deleteIndex.Add(i);
                continue;
            }

            try
            {
                writes.Add(ConntrackSessionMap.ToEntry(r.Key, r.Entry));
                writeIndex.Add(i);
            }
            catch (ArgumentException ex)
            {
                failures.Add(new ConntrackEntryFailure(i, ConntrackSessionMap.TupleOf(r.Key), 22, ex.Message));
            }
        }

        var written = client.Write(writes);
        foreach (var f in written.Failures)
            failures.Add(f with { Index = writeIndex[f.Index] });
        var deleted = client.Delete(deletes);
        var gone = deleted.Succeeded;
        foreach (var f in deleted.Failures)
        {
            if (f.Errno == ConntrackEntryFailure.NotFound)
                gone++;
            else
                failures.Add(f with { Index = deleteIndex[f.Index] });
        }

        return new ConntrackSinkResult(written.Succeeded, gone, failures);
    }
}
