using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// A VM of the analytic hypervisor: no guest memory, only the figures the pre-copy model needs (size in
/// pages, dirty rate, working set, device-state size) and its run state, with the same transitions as
/// <see cref="SimulatedVm"/>. A few hundred bytes whatever its modelled size.
/// </summary>
public sealed class AnalyticVm
{
    /// <summary>Guest page size the model counts in, in bytes.</summary>
    public const int PageSize = 4096;

    private readonly Lock _lock = new();
    private VmState _state = VmState.Created;
    private bool _pausedForSwitchover;

    internal AnalyticVm(VmSpec spec)
    {
        Spec = spec;
        PageCount = (long)spec.MemoryMiB * (1 << 20) / PageSize;
        var simulation = spec.Simulation;
        var workload = simulation?.Workload;
        DirtyBytesPerSecond = workload is null ? 0 : workload.DirtyMegabytesPerSecond * 1e6;
        WorkingSetPages = workload is { Pattern: DirtyPattern.HotSet }
            ? Math.Min(PageCount, (long)workload.HotSetMiB * (1 << 20) / PageSize)
            : PageCount;
        DeviceStateBytes = simulation?.DeviceStateBytes ?? new SimulatedGuestOptions().DeviceStateBytes;
    }

    public VmSpec Spec { get; }

    public string VmId => Spec.VmId;

    /// <summary>Modelled guest memory in 4 KiB pages.</summary>
    public long PageCount { get; }

    /// <summary>Bytes the guest dirties per second (<see cref="GuestWorkloadOptions.DirtyMegabytesPerSecond"/> × 10^6; 0 = idle).</summary>
    public double DirtyBytesPerSecond { get; }

    /// <summary>Pages the workload can dirty at all: the hot set for <see cref="DirtyPattern.HotSet"/>, else the whole memory.</summary>
    public long WorkingSetPages { get; }

    /// <summary>Size of the device-state blob the final copy carries, in bytes.</summary>
    public int DeviceStateBytes { get; }

    public VmState State
    {
        get
        {
            lock (_lock)
                return _state;
        }
    }

    internal AnalyticOutgoingMigration? Outgoing { get; set; }

    internal AnalyticIncomingMigration? Incoming { get; set; }

    /// <summary>Distinct pages dirtied in <paramref name="seconds"/> of modelled time: rate × time, rounded up, capped by the working set.</summary>
    public long PagesDirtiedIn(double seconds) =>
        DirtyBytesPerSecond <= 0 || seconds <= 0 ? 0 : (long)Math.Min(WorkingSetPages, Math.Ceiling(DirtyBytesPerSecond * seconds / PageSize));

    internal VmInfo ToInfo()
    {
        var active = Outgoing is { State: not (OutgoingMigrationState.Completed or OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed) }
            || Incoming is { State: IncomingMigrationState.Listening or IncomingMigrationState.Receiving or IncomingMigrationState.ReadyToResume };
        return new VmInfo(Spec, State, active);
    }

    internal void Start() => TransitionTo(VmState.Created, VmState.Running);

    internal void Pause() => TransitionTo(VmState.Running, VmState.Paused);

    internal void Resume()
    {
        lock (_lock)
        {
            if (_pausedForSwitchover)
                throw new InvalidOperationException($"VM '{VmId}' is paused for a switchover; the migration decides when it runs again.");
        }

        TransitionTo(VmState.Paused, VmState.Running);
    }

    internal void BeginIncoming() => TransitionTo(VmState.Created, VmState.Incoming);

    internal void BeginOutgoing()
    {
        lock (_lock)
        {
            if (_state != VmState.Running)
                throw new InvalidOperationException($"VM '{VmId}' must be running to migrate; it is {_state}.");
        }
    }

    internal void PauseForSwitchover()
    {
        lock (_lock)
        {
            Check(VmState.Running, VmState.Paused);
            _pausedForSwitchover = true;
            _state = VmState.Paused;
        }
    }

    /// <summary>Rollback: a VM paused for the switchover runs again on this host; a running one is left as it is.</summary>
    internal void EndOutgoingRolledBack()
    {
        lock (_lock)
        {
            if (!_pausedForSwitchover)
                return;
            Check(VmState.Paused, VmState.Running);
            _pausedForSwitchover = false;
            _state = VmState.Running;
        }
    }

    internal void EndOutgoingCommitted()
    {
        lock (_lock)
        {
            Check(VmState.Paused, VmState.PostMigrate);
            _pausedForSwitchover = false;
            _state = VmState.PostMigrate;
        }
    }

    internal void ResumeIncoming() => TransitionTo(VmState.Incoming, VmState.Running);

    internal void TearDownIncoming()
    {
        lock (_lock)
        {
            if (_state is VmState.Incoming or VmState.Created)
                _state = VmState.Failed;
        }
    }

    /// <summary>The one place the run state changes (besides the switchover pair above, under the same lock).</summary>
    private void TransitionTo(VmState from, VmState to)
    {
        lock (_lock)
        {
            Check(from, to);
            _state = to;
        }
    }

    private void Check(VmState from, VmState to)
    {
        if (_state != from)
            throw new InvalidOperationException($"VM '{VmId}' cannot go from {_state} to {to} (expected {from}).");
    }
}
