using OrleansMigrate.Hypervisor.Sessions;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// Connection churn on the VM's session table: new sessions, counter and state updates, expiries, at a
/// target rate, in critical sections of the guest's <see cref="PauseGate"/> (a paused VM sends no packets).
/// </summary>
internal sealed class SessionChurn : IDisposable
{
    private const int OpsPerSection = 32;

    private readonly SessionTable _table;
    private readonly SessionChurnOptions _options;
    private readonly PauseGate _gate;
    private readonly TimeProvider _time;
    private readonly List<FlowKey> _live = [];
    private readonly Thread _thread;
    private ulong _random;
    private uint _nextFlow;
    private volatile bool _stop;
    private bool _started;

    public SessionChurn(SessionTable table, SessionChurnOptions options, PauseGate gate, TimeProvider time, ulong seed, string name)
    {
        _table = table;
        _options = options;
        _gate = gate;
        _time = time;
        _random = seed | 1;
        _thread = new Thread(Run) { IsBackground = true, Name = $"{name}-sessions" };
    }

    /// <summary>Creates the boot-time sessions.</summary>
    public void Populate()
    {
        for (var i = 0; i < _options.InitialSessions; i++)
            Create();
    }

    /// <summary>Starts churning; adopts whatever the table holds (a destination starts from the migrated table).</summary>
    public void Start()
    {
        if (_live.Count == 0)
        {
            foreach (var key in _table.Snapshot().Keys)
                _live.Add(key);
            _nextFlow = (uint)_live.Count + 0x0100_0000;
        }

        if (_options.ChurnPerSecond > 0 && !_started)
        {
            _started = true;
            _thread.Start();
        }
    }

    public void Dispose()
    {
        _stop = true;
        if (_started)
            _thread.Join();
    }

    private void Run() =>
        PacedLoop.Run(_time, _gate, () => _stop, _ => _options.ChurnPerSecond, OpsPerSection, 0.01, count =>
        {
            for (var i = 0; i < count; i++)
                Step();
        });

    private void Step()
    {
        var roll = Next() % 10_000 / 10_000.0;
        if (_live.Count == 0 || roll < _options.NewFraction)
        {
            Create();
            return;
        }

        var slot = (int)(Next() % (ulong)_live.Count);
        var key = _live[slot];
        if (roll < _options.NewFraction + _options.ExpireFraction)
        {
            _live[slot] = _live[^1];
            _live.RemoveAt(_live.Count - 1);
            _table.Remove(key);
            return;
        }

        _table.TryGet(key, out var entry);
        var state = entry.State switch
        {
            SessionState.New => SessionState.Established,
            SessionState.Established => Next() % 16 == 0 ? SessionState.Closing : SessionState.Established,
            SessionState.Closing => SessionState.TimeWait,
            _ => entry.State,
        };
        _table.Upsert(key, new SessionEntry(state, entry.Packets + 1 + (Next() % 8), entry.Bytes + 64 + (Next() % 1400), _time.GetTimestamp()));
    }

    private void Create()
    {
        var flow = _nextFlow++;
        var key = new FlowKey(
            0x0A00_0000 | (flow >> 8),
            0xC0A8_0000 | (uint)(Next() % 65_536),
            (ushort)(1024 + (flow & 0xFF) + (Next() % 60_000 & 0xFF00)),
            (ushort)(Next() % 2 == 0 ? 443 : 80 + (Next() % 8)),
            (byte)(Next() % 4 == 0 ? 17 : 6));
        _live.Add(key);
        _table.Upsert(key, new SessionEntry(SessionState.New, 1, 60, _time.GetTimestamp()));
    }

    private ulong Next()
    {
        _random ^= _random << 13;
        _random ^= _random >> 7;
        _random ^= _random << 17;
        return _random;
    }
}
