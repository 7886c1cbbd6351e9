using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>One VM of the QEMU driver: its spec, state, process and the migration attached to it.</summary>
internal sealed class QemuVm(VmSpec spec)
{
    private volatile QemuProcess? _process;
    private VmState _state = VmState.Created;
    private string? _lostBecause;

    public VmSpec Spec { get; } = spec;

    /// <summary>The host whose driver runs this VM.</summary>
    public string HostId { get; init; } = string.Empty;

    public QemuProcess? Process => _process;

    /// <summary>The accelerator its QEMU was launched with (<c>kvm</c>/<c>tcg</c>); null for an adopted guest.</summary>
    public string? Accelerator { get; set; }

    public QemuOutgoingMigration? Outgoing { get; set; }

    public QemuIncomingMigration? Incoming { get; set; }

    public VmState State
    {
        get
        {
            lock (this)
                return _state;
        }

        set
        {
            lock (this)
            {
                // Lost is final: a late callback of a migration must not make a dead guest look alive.
                if (_state != VmState.Lost)
                    _state = value;
            }
        }
    }

    /// <summary>Supervises a freshly launched process: an exit nobody asked for makes the VM lost (or the incoming side failed).</summary>
    public void Attach(QemuProcess process)
    {
        _process = process;
        _ = process.Exited.ContinueWith(_ => OnExited(process), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public VmInfo Info()
    {
        var process = _process;
        string? detail;
        lock (this)
        {
            detail = _lostBecause ?? (process is null ? null
                : process.Exited.IsCompleted ? process.ExitDescription
                : $"qemu pid {process.ProcessId}, {process.RunState ?? "prelaunch"}{(Accelerator is null ? string.Empty : ", " + Accelerator)}");
        }

        var migrating = Outgoing is { State: not (OutgoingMigrationState.Completed or OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed) }
            || Incoming is { Finished: false };
        return new VmInfo(Spec, State, migrating, detail);
    }

    /// <summary>Records an exit of <paramref name="process"/> nobody asked for. Idempotent; the migration calls it too,
    /// before it reports the failure, so a caller that sees "lost" also sees <see cref="VmState.Lost"/>.</summary>
    public void OnExited(QemuProcess process)
    {
        if (process.Stopping || !ReferenceEquals(process, _process))
            return;
        lock (this)
        {
            switch (_state)
            {
                case VmState.Running or VmState.Paused:
                    _lostBecause = $"lost: {process.ExitDescription}; the VM needs a restart";
                    _state = VmState.Lost;
                    break;
                case VmState.Incoming:
                    _state = VmState.Failed;
                    break;
            }
        }
    }

    /// <summary>Records that the guest is lost while its process may still live (a post-copy whose destination failed:
    /// neither side holds the whole guest any more). Final, like an exit.</summary>
    public void MarkLost(string reason)
    {
        lock (this)
        {
            _lostBecause = $"lost: {reason}; the VM needs a restart";
            _state = VmState.Lost;
        }
    }
}
