using System.Collections.Immutable;
using OrleansMigrate.Agents;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Agents;

/// <summary>
/// The hypervisor side of the host agents on this silo: one per silo process, shared by the agents of
/// every host the silo serves. It outlives agent activations, as a hypervisor outlives its agent, and
/// holds the in-flight migrations by migration id so that a replayed call finds them.
/// </summary>
public interface IHostRuntime
{
    string DriverName { get; }

    /// <summary>VMs that run on the host now: running, or paused for a switchover (still there until committed).</summary>
    Task<ImmutableArray<string>> RunningVmsAsync(string hostId);

    /// <summary>The hypervisor's state of the VM on the host (<c>running</c>, <c>paused</c>, <c>incoming</c>, <c>postmigrate</c>…), or null.</summary>
    Task<HypervisorVmState?> VmStateAsync(string hostId, string vmId);

    /// <summary>Whether this host's hypervisor attaches a VM's cloud disks itself (QEMU: over the network, to the export
    /// the block store gives the host); the agent then asks each disk for its attachment before a VM starts here.</summary>
    bool AttachesCloudDisks { get; }

    /// <summary>Boots the VM here (no effect when it runs); <paramref name="disks"/>: where this host attaches its cloud disks.</summary>
    Task StartVmAsync(string hostId, VmSpec spec, IReadOnlyDictionary<string, BlockDeviceAttachment>? disks = null);

    Task DestroyVmAsync(string hostId, string vmId);

    /// <summary>The VM's hot-pluggable devices (SR-IOV VFs) plugged now.</summary>
    Task<ImmutableArray<string>> PluggedDevicesAsync(string hostId, string vmId);

    /// <summary>Plugs one of the VM's hot-pluggable devices; returns how long it took in ms.</summary>
    Task<double> PlugDeviceAsync(string hostId, string vmId, string deviceId);

    /// <summary>Unplugs one of the VM's hot-pluggable devices and waits until the hypervisor let it go; returns the ms it took.</summary>
    Task<double> UnplugDeviceAsync(string hostId, string vmId, string deviceId);

    /// <summary>Source of a cold move (see <see cref="IHostAgentGrain.ShutdownForMoveAsync"/>).</summary>
    Task<ShutdownReport?> ShutdownForMoveAsync(string hostId, string migrationId, string vmId, TimeSpan gracefulTimeout, TimeSpan wait);

    /// <summary>Destination of a cold move (see <see cref="IHostAgentGrain.StartMovedAsync"/>): boots the VM, answers when it runs.</summary>
    Task<DateTimeOffset> StartMovedAsync(string hostId, string migrationId, VmSpec spec, IReadOnlyDictionary<string, BlockDeviceAttachment>? disks = null);

    /// <summary>Destination: defines the VM and listens, prepared for the stream <paramref name="tuning"/> describes (its
    /// migration channels); null: one stream.</summary>
    Task<IncomingEndpoint> PrepareIncomingAsync(string hostId, string migrationId, VmSpec spec, MigrationTuning? tuning = null,
        IReadOnlyDictionary<string, BlockDeviceAttachment>? disks = null);

    Task StartOutgoingAsync(string hostId, string migrationId, string vmId, IncomingEndpoint destination, MigrationTuning tuning,
        Func<SessionRoundMessage, Task<SessionRoundAck>>? sendSessions = null);

    /// <summary>Destination side of the session rounds (see <see cref="IHostAgentGrain.ApplySessionRoundAsync"/>).</summary>
    Task<SessionRoundAck> ApplySessionRoundAsync(string hostId, string migrationId, SessionRoundMessage round);

    Task<OutgoingSnapshot> WaitOutgoingAsync(string hostId, string migrationId, TimeSpan wait);

    void ForceSwitchover(string hostId, string migrationId);

    void SetDowntimeTarget(string hostId, string migrationId, double downtimeTargetMs);

    Task<FinalCopyReport> FinalCopyAsync(string hostId, string migrationId);

    Task<ResumeReport> ResumeIncomingAsync(string hostId, string migrationId);

    /// <summary>Destination: completes once this side has received and applied the whole final copy; the time it saw that.</summary>
    Task<DateTimeOffset> WaitReceivedAsync(string hostId, string migrationId);

    Task<GuestCheck> VerifyIncomingAsync(string hostId, string migrationId);

    Task<HypervisorReport?> CompleteOutgoingAsync(string hostId, string migrationId, string vmId);

    /// <summary>The hypervisor's detail on the VM (QEMU: pid and status, or how it died), or null.</summary>
    Task<string?> VmDetailAsync(string hostId, string vmId);

    /// <summary>One allow-listed QMP command for the VM's QEMU; QEMU's reply as JSON.</summary>
    Task<string> QmpAsync(string hostId, string vmId, string commandJson);

    /// <summary>Samples the VM's dirty rate on its hypervisor and predicts a migration with these settings.</summary>
    Task<OrleansMigrate.Migration.PreflightPrediction> PredictAsync(string hostId, string vmId, MigrationTuning tuning, TimeSpan sample);

    Task CancelOutgoingAsync(string hostId, string migrationId, string vmId, string reason);

    Task AbortIncomingAsync(string hostId, string migrationId, string vmId, string reason);
}
