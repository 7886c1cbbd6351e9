using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.PreCopy;
using OrleansMigrate.Hypervisor.Sessions;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// A VM of the simulated hypervisor on one host: its run state (transitions in one place) around a
/// simulated guest, and the role it plays in a migration — the source engine's guest or the destination
/// engine's target.
/// </summary>
public sealed class SimulatedVm : IPreCopyGuest, IPreCopyTarget, IDisposable
{
    private readonly Lock _lock = new();
    private readonly SimulatedGuest _guest;
    private VmState _state = VmState.Created;
    private bool _pausedForSwitchover;
    private bool _disposed;

    internal SimulatedVm(VmSpec spec, TimeProvider time)
    {
        Spec = spec;
        _guest = new SimulatedGuest(spec, time);
    }

    public VmSpec Spec { get; }

    public string VmId => Spec.VmId;

    public VmState State
    {
        get
        {
            lock (_lock)
                return _state;
        }
    }

    /// <summary>The VM's connection-tracking table.</summary>
    public SessionTable Sessions => _guest.Sessions;

    /// <summary>Total page writes by the guest since first boot (the pass counter).</summary>
    public long PageWrites => _guest.PassCounter;

    /// <summary>Guest memory in 4 KiB pages.</summary>
    public int PageCount => _guest.Memory.PageCount;

    /// <summary>Size of the device-state blob in bytes.</summary>
    public int DeviceStateBytes => _guest.DeviceStateBytes;

    GuestMemory IPreCopyGuest.Memory => _guest.Memory;

    GuestMemory IPreCopyTarget.Memory => _guest.Memory;

    DirtyBitmap IPreCopyGuest.DirtyPages => _guest.DirtyPages;

    SessionTable? IPreCopyGuest.Sessions => _guest.Sessions;

    SessionTable? IPreCopyTarget.Sessions => _guest.Sessions;

    internal IOutgoingMigration? Outgoing { get; set; }

    internal IIncomingMigration? Incoming { get; set; }

    /// <summary>
    /// Checks every page against the generation this guest recorded for it and the generation sum against
    /// the pass counter. Guest threads pause for the duration (one pass over memory).
    /// </summary>
    public ConsistencyReport Verify()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_state is VmState.Created or VmState.Incoming or VmState.Failed)
                throw new InvalidOperationException($"VM '{VmId}' is {_state}; there is no guest state to verify.");
        }

        return _guest.VerifySelf();
    }

    /// <summary>
    /// Samples the guest's dirty rate from its own counters (see <see cref="DirtyRateSampler"/>). Allowed while
    /// a migration is in flight: the migration's dirty bitmap is neither read nor cleared.
    /// </summary>
    internal Task<DirtyRateSample> SampleDirtyRateAsync(TimeSpan window, TimeProvider time, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_state != VmState.Running)
                throw new InvalidOperationException($"VM '{VmId}' is {_state}; only a running VM has a dirty rate to sample.");
        }

        return DirtyRateSampler.SampleAsync(VmId, _guest, window, time, cancellationToken);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            _disposed = true;
        }

        _guest.Dispose();
    }

    internal VmInfo ToInfo()
    {
        var active = Outgoing is { State: not (OutgoingMigrationState.Completed or OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed) }
            || Incoming is { State: IncomingMigrationState.Listening or IncomingMigrationState.Receiving or IncomingMigrationState.ReadyToResume };
        return new VmInfo(Spec, State, active);
    }

    /// <summary>First boot of a fresh guest.</summary>
    internal void Start()
    {
        TransitionTo(VmState.Created, VmState.Running, () =>
        {
            _guest.Boot();
            _guest.StartActivity();
        });
    }

    internal void Pause()
    {
        TransitionTo(VmState.Running, VmState.Paused, _guest.Gate.Pause);
    }

    internal void Resume()
    {
        lock (_lock)
        {
            if (_pausedForSwitchover)
                throw new InvalidOperationException($"VM '{VmId}' is paused for a switchover; the migration decides when it runs again.");
        }

        TransitionTo(VmState.Paused, VmState.Running, _guest.Gate.Resume);
    }

    internal void BeginIncoming() => TransitionTo(VmState.Created, VmState.Incoming, static () => { });

    void IPreCopyGuest.BeginOutgoing()
    {
        lock (_lock)
        {
            if (_state != VmState.Running)
                throw new InvalidOperationException($"VM '{VmId}' must be running to migrate; it is {_state}.");
        }

        _guest.DirtyPages.Clear();
        _guest.Sessions.StartTracking();
    }

    void IPreCopyGuest.PauseForSwitchover()
    {
        TransitionTo(VmState.Running, VmState.Paused, () =>
        {
            _guest.Gate.Pause();
            _pausedForSwitchover = true;
        });
    }

    byte[] IPreCopyGuest.CaptureDeviceState() => _guest.CaptureDeviceState();

    void IPreCopyGuest.EndOutgoingRolledBack()
    {
        _guest.Sessions.StopTracking();
        lock (_lock)
        {
            if (!_pausedForSwitchover)
                return;
        }

        TransitionTo(VmState.Paused, VmState.Running, () =>
        {
            _pausedForSwitchover = false;
            _guest.Gate.Resume();
        });
    }

    void IPreCopyGuest.EndOutgoingCommitted()
    {
        _guest.Sessions.StopTracking();
        TransitionTo(VmState.Paused, VmState.PostMigrate, () =>
        {
            _pausedForSwitchover = false;
            _guest.StopActivity();
        });
    }

    void IPreCopyTarget.RestoreDeviceState(ReadOnlySpan<byte> blob) => _guest.RestoreDeviceState(blob);

    void IPreCopyTarget.ResumeIncoming() => TransitionTo(VmState.Incoming, VmState.Running, static () => { });

    ConsistencyReport IPreCopyTarget.VerifyReceived() => _guest.VerifyReceived();

    void IPreCopyTarget.StartGuestActivity()
    {
        _guest.AdoptReceivedState();
        _guest.StartActivity();
    }

    void IPreCopyTarget.TearDownIncoming(string reason)
    {
        TransitionTo(VmState.Incoming, VmState.Failed, static () => { }, allowFrom: VmState.Created);
        _guest.StopActivity();
        _guest.Sessions.Clear();
        _guest.Memory.Dispose();
    }

    /// <summary>The one place the run state changes.</summary>
    private void TransitionTo(VmState from, VmState to, Action action, VmState? allowFrom = null)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_state != from && _state != allowFrom)
                throw new InvalidOperationException($"VM '{VmId}' cannot go from {_state} to {to} (expected {from}).");
            action();
            _state = to;
        }
    }
}
