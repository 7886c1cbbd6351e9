using OrleansMigrate.Fleet;

namespace OrleansMigrate.Agents;

/// <summary>
/// The agent on one hypervisor host (key: host id). Host-pinned: it activates only on the silo that
/// serves that host, because it drives that host's hypervisor; when no live silo serves the host a
/// call fails at once with <see cref="Errors.OmigErrorCode.Unavailable"/> instead of activating elsewhere.
/// Time-critical migration steps run here, on the host; the migration grain decides when.
/// Every migration call is keyed by the migration id, so a replay after a crash is harmless.
/// </summary>
[Alias("omig.IHostAgentGrain")]
public interface IHostAgentGrain : IGrainWithStringKey
{
    [Alias("GetInfo")]
    Task<HostAgentInfo> GetInfoAsync();

    /// <summary>Boots the VM on this host's hypervisor. Idempotent.</summary>
    [Alias("StartVm")]
    Task StartVmAsync(VmSpec spec);

    /// <summary>Destroys the VM on this host's hypervisor. Idempotent.</summary>
    [Alias("DestroyVm")]
    Task DestroyVmAsync(string vmId);

    /// <summary>Source of a cold move: asks the guest to power off (ACPI; QEMU <c>system_powerdown</c>), waits up to
    /// <paramref name="gracefulTimeoutMs"/> for it to, then stops it hard (QEMU <c>quit</c>), and removes the stopped VM
    /// from this host (its cloud disks stay in the block store, its NICs' taps go). A long poll: the shutdown goes on in
    /// the background and the call answers null when it is not over within <paramref name="waitMs"/> (at most 10 s; a guest
    /// may take longer to power off than one grain call may last), so the caller asks again. Idempotent per migration: a VM
    /// with no running instance here is answered with <see cref="ShutdownReport.WasRunning"/> false. Conflict while the VM
    /// is migrating.</summary>
    [Alias("ShutdownForMove")]
    Task<ShutdownReport?> ShutdownForMoveAsync(string migrationId, string vmId, int gracefulTimeoutMs, int waitMs);

    /// <summary>Destination of a cold move: boots the VM here from its cloud disks (this host must hold them read-write
    /// by now) and answers when its hypervisor runs it — the cold move's commit point. Idempotent: a VM that runs here
    /// already is answered at once.</summary>
    [Alias("StartMoved")]
    Task<DateTimeOffset> StartMovedAsync(string migrationId, VmSpec spec);

    /// <summary>Destination: defines the VM and listens for the migration stream, prepared as <paramref name="tuning"/> says
    /// (the same tuning the source gets: QEMU needs its multifd channel count on both sides). Null, as from a caller that
    /// predates the argument: one stream. Idempotent per migration.</summary>
    [Alias("PrepareIncoming")]
    Task<IncomingEndpoint> PrepareIncomingAsync(string migrationId, VmSpec spec, MigrationTuning? tuning = null);

    /// <summary>Source: connects to the destination and starts pre-copy. Idempotent per migration.</summary>
    [Alias("StartOutgoing")]
    Task StartOutgoingAsync(string migrationId, string vmId, IncomingEndpoint destination, MigrationTuning tuning);

    /// <summary>Source: the migration's state, waiting up to <paramref name="waitMs"/> for the VM to pause
    /// for switchover (a long poll: it returns at once on the pause, so no downtime is spent polling).</summary>
    [Alias("WaitOutgoing")]
    Task<OutgoingSnapshot> WaitOutgoingAsync(string migrationId, int waitMs);

    /// <summary>Source: asks pre-copy to stop at the next round and pause (deadline or stall).</summary>
    [Alias("ForceSwitchover")]
    Task ForceSwitchoverAsync(string migrationId);

    /// <summary>Source: changes the downtime target of a running pre-copy (the stall escalation), in ms.</summary>
    [Alias("SetDowntimeTarget")]
    Task SetDowntimeTargetAsync(string migrationId, double downtimeTargetMs);

    /// <summary>Destination side: applies one round of the VM's session table (its conntrack entries) to this host's
    /// conntrack. Rounds apply in order, each once; the final one lets the destination resume. Refused (Conflict) when this
    /// host expects no session rounds for the migration or the kernel refused entries.</summary>
    [Alias("ApplySessionRound")]
    Task<SessionRoundAck> ApplySessionRoundAsync(string migrationId, SessionRoundMessage round);

    /// <summary>Source: the final copy (pages, session delta, device state) once paused; returns on the destination's acknowledgement.</summary>
    [Alias("FinalCopy")]
    Task<FinalCopyReport> FinalCopyAsync(string migrationId);

    /// <summary>The hypervisor's state of a VM on this host, or null when it has no instance of it.</summary>
    [Alias("GetHypervisorState")]
    Task<HypervisorVmState?> GetVmStateAsync(string vmId);

    /// <summary>Destination, after the commit: the check of the received guest against the source at pause
    /// (a verdict read from the guest, or "not checked" with the reason), then the incoming side is released.
    /// Idempotent: a replay after the release says not checked.</summary>
    [Alias("VerifyIncoming")]
    Task<Migration.GuestCheck> VerifyIncomingAsync(string migrationId);

    /// <summary>Destination: runs the VM — the commit point. Idempotent: a replay returns the first resume.</summary>
    [Alias("ResumeIncoming")]
    Task<ResumeReport> ResumeIncomingAsync(string migrationId);

    /// <summary>Destination, parallel switchover, called the moment the source paused: takes each disk over and
    /// enables each relay of <paramref name="plan"/> itself, waits for its own side to have received the final
    /// copy, and runs the VM the instant the last of them holds — unless the migration was aborted here first
    /// (decided under the VM's lock, as <see cref="AbortIncomingAsync"/> is). The commit point. Idempotent per
    /// migration: every step is, and a replay after the resume returns the first resume.</summary>
    [Alias("Switchover")]
    Task<SwitchoverReport> SwitchoverAsync(string migrationId, SwitchoverPlan plan);

    /// <summary>Source, after the commit point: the source VM stops for good and is destroyed. Idempotent.
    /// Returns the hypervisor's own numbers for the migration when it has them (null on a replay).</summary>
    [Alias("CompleteOutgoing")]
    Task<HypervisorReport?> CompleteOutgoingAsync(string migrationId, string vmId);

    /// <summary>What the hypervisor says about the VM beyond its state (QEMU: pid and run status, or how it died), or null.</summary>
    [Alias("GetVmDetail")]
    Task<string?> GetVmDetailAsync(string vmId);

    /// <summary>The VM's SR-IOV VFs (hot-pluggable devices, e.g. <c>vf-mlx5-0</c>) its hypervisor has plugged now.</summary>
    [Alias("GetPluggedDevices")]
    Task<System.Collections.Immutable.ImmutableArray<string>> GetPluggedDevicesAsync(string vmId);

    /// <summary>Plugs one of the VM's SR-IOV VFs (a hot-pluggable device, e.g. <c>vf-mlx5-0</c>); returns the ms it took.
    /// Idempotent.</summary>
    [Alias("PlugDevice")]
    Task<double> PlugDeviceAsync(string vmId, string deviceId);

    /// <summary>Unplugs one of the VM's SR-IOV VFs and returns once the hypervisor let it go, with the ms it took. Idempotent.</summary>
    [Alias("UnplugDevice")]
    Task<double> UnplugDeviceAsync(string vmId, string deviceId);

    /// <summary>
    /// One QMP command for the VM's QEMU, as JSON (<c>{"execute": …, "arguments": {…}}</c>), passed through
    /// this agent, which owns the monitor socket. Returns QEMU's reply as JSON (<c>{"return": …}</c> or
    /// <c>{"error": …}</c>). Only allow-listed commands pass; refused ones fail with an invalid-argument error.
    /// </summary>
    [Alias("Qmp")]
    Task<string> QmpAsync(string vmId, string commandJson);

    /// <summary>Samples the VM's dirty rate for <paramref name="sampleMs"/> and predicts a migration with
    /// <paramref name="tuning"/> (preflight; nothing is migrated).</summary>
    [Alias("Predict")]
    Task<Migration.PreflightPrediction> PredictAsync(string vmId, MigrationTuning tuning, int sampleMs);

    /// <summary>Source, before the commit point: stops the stream and resumes the VM on the source. Idempotent.</summary>
    [Alias("CancelOutgoing")]
    Task CancelOutgoingAsync(string migrationId, string vmId, string reason);

    /// <summary>Destination, before the commit point: tears the incoming VM down. Idempotent.</summary>
    [Alias("AbortIncoming")]
    Task AbortIncomingAsync(string migrationId, string vmId, string reason);
}
