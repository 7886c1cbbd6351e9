namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>
/// One hypervisor backend on one host: the simulated hypervisor (embedded default) or QEMU over QMP.
/// A host agent owns one driver; source and destination of a migration are two drivers on two hosts
/// (possibly two processes) connected only by the migration stream over TCP.
/// </summary>
/// <remarks>
/// The migration shape follows QEMU's <c>pause-before-switchover</c>: the source side runs pre-copy and
/// the pre-last-copy stage, then pauses the VM and waits (<see cref="IOutgoingMigration.PreSwitchover"/>);
/// the orchestrator runs the final copy (<see cref="IOutgoingMigration.FinalCopyAsync"/>) in parallel
/// with its cloud actions, and commits by resuming the destination (<see cref="IIncomingMigration.ResumeAsync"/>).
/// Until that commit point any failure or <see cref="IOutgoingMigration.CancelAsync"/> leaves the VM
/// running on the source.
/// </remarks>
public interface IHypervisorDriver : IAsyncDisposable
{
    /// <summary>Short backend name, e.g. <c>simulated</c> or <c>qemu</c>.</summary>
    string Kind { get; }

    /// <summary>
    /// The clock behind every timestamp this driver reports (<see cref="TimeProvider.GetTimestamp"/> ticks in
    /// <see cref="PreSwitchoverInfo"/>, <see cref="FinalCopyResult"/>, <see cref="IncomingResult"/>, <see cref="ResumeResult"/>).
    /// </summary>
    TimeProvider TimeProvider { get; }

    /// <summary>Defines a VM on this host. The VM is <see cref="VmState.Created"/>: memory reserved, not running.</summary>
    Task<VmInfo> CreateVmAsync(VmSpec spec, CancellationToken cancellationToken = default);

    /// <summary>Boots a <see cref="VmState.Created"/> VM (fresh guest, not a migration target).</summary>
    Task<VmInfo> StartVmAsync(string vmId, CancellationToken cancellationToken = default);

    /// <summary>The VM's current state. Throws <see cref="VmNotFoundException"/> for an unknown id.</summary>
    Task<VmInfo> GetVmAsync(string vmId, CancellationToken cancellationToken = default);

    /// <summary>Lists the VMs defined on this host.</summary>
    Task<IReadOnlyList<VmInfo>> ListVmsAsync(CancellationToken cancellationToken = default);

    /// <summary>Pauses a running VM outside any migration.</summary>
    Task PauseVmAsync(string vmId, CancellationToken cancellationToken = default);

    /// <summary>Resumes a VM paused by <see cref="PauseVmAsync"/>.</summary>
    Task ResumeVmAsync(string vmId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Makes a <see cref="VmState.Created"/> VM the target of an incoming migration: listens on
    /// <see cref="IncomingMigrationOptions.ListenAddress"/> and reports the endpoint to hand to the source.
    /// </summary>
    Task<IIncomingMigration> PrepareIncomingAsync(string vmId, IncomingMigrationOptions options, CancellationToken cancellationToken = default);

    /// <summary>
    /// Connects to a destination endpoint and starts pre-copy of a running VM. Returns once the
    /// destination accepted the stream; pre-copy continues in the background.
    /// </summary>
    Task<IOutgoingMigration> StartOutgoingAsync(string vmId, MigrationEndpoint destination, MigrationOptions options, CancellationToken cancellationToken = default);

    /// <summary>
    /// Measures how fast a running VM dirties its memory over about <paramref name="window"/> (the migration
    /// preflight's input). Safe while a migration of the VM is in flight: backends read counters that do not
    /// reset the migration's dirty tracking. Throws <see cref="VmNotFoundException"/> for an unknown id and
    /// <see cref="InvalidOperationException"/> when the VM is not running.
    /// </summary>
    /// <param name="vmId">A running VM.</param>
    /// <param name="window">How long to measure (QEMU rounds up to whole seconds).</param>
    /// <param name="cancellationToken">Cancels the measurement.</param>
    Task<DirtyRateSample> SampleDirtyRateAsync(string vmId, TimeSpan window, CancellationToken cancellationToken = default);

    /// <summary>
    /// Destroys the VM and releases its memory. A migration still in progress on it is cancelled first
    /// (outgoing: rolled back; incoming: torn down). Destroying an unknown id is a no-op.
    /// </summary>
    Task DestroyVmAsync(string vmId, CancellationToken cancellationToken = default);

    /// <summary>The hot-pluggable devices (<see cref="VmSpec.HotplugDevices"/>) plugged into the VM now. Throws
    /// <see cref="VmNotFoundException"/> for an unknown id.</summary>
    Task<IReadOnlyList<string>> PluggedDevicesAsync(string vmId, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"the {Kind} hypervisor cannot hot-plug devices");

    /// <summary>Plugs one of the VM's <see cref="VmSpec.HotplugDevices"/> into it (a running or paused VM, not one whose
    /// incoming migration has not resumed); plugging a plugged device is a no-op. Throws <see cref="ArgumentException"/>
    /// for an id the spec does not name.</summary>
    Task PlugDeviceAsync(string vmId, string deviceId, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"the {Kind} hypervisor cannot hot-plug devices");

    /// <summary>Unplugs the device and returns once the hypervisor has let it go; unplugging an absent device is a no-op.</summary>
    Task UnplugDeviceAsync(string vmId, string deviceId, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"the {Kind} hypervisor cannot hot-plug devices");

    /// <summary>
    /// Shuts a running VM down for a cold move: asks the guest to power off (ACPI power button; QEMU
    /// <c>system_powerdown</c>), waits up to <paramref name="gracefulTimeout"/> for it to, then stops it hard (QEMU
    /// <c>quit</c>, a kill if that hangs), and removes the stopped VM from this host (its cloud disks live in the block
    /// store). Throws <see cref="VmNotFoundException"/> for an unknown id and <see cref="InvalidOperationException"/> when
    /// the VM is not running or is migrating.
    /// </summary>
    Task<ShutdownResult> ShutdownVmAsync(string vmId, TimeSpan gracefulTimeout, CancellationToken cancellationToken = default);

    /// <summary>Whether the hypervisor has a monitor an operator may pass commands to (<see cref="PassthroughAsync"/>):
    /// QEMU's QMP; the simulated engines have none.</summary>
    bool SupportsPassthrough => false;

    /// <summary>
    /// Passes one monitor command (JSON text) to the VM's hypervisor and returns its reply as JSON; only the driver's
    /// allowed commands pass. Throws <see cref="NotSupportedException"/> when <see cref="SupportsPassthrough"/> is false,
    /// <see cref="ArgumentException"/> for a command that is malformed or not allowed, <see cref="VmNotFoundException"/>
    /// for an unknown VM.
    /// </summary>
    Task<string> PassthroughAsync(string vmId, string commandJson, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"the {Kind} hypervisor has no monitor to pass commands to");
}
