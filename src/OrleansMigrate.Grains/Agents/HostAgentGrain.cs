using System.Collections.Concurrent;
using Orleans.Concurrency;
using OrleansMigrate.Agents;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Agents;

/// <summary>The agent of one hypervisor host, pinned to the silo that serves it.</summary>
/// <remarks>Reentrant: a long poll on one migration or a slow final copy must not hold up the time-critical
/// steps of another migration on the same host. The runtime underneath is thread-safe and keyed by
/// migration id; the agent holds no state of its own.</remarks>
[HostPinnedPlacement]
[Reentrant]
public sealed class HostAgentGrain(ILocalSiloDetails silo, IHostRuntime runtime) : Grain, IHostAgentGrain
{
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(10);

    private string HostId => this.GetPrimaryKeyString();

    /// <summary>
    /// Reconciles the hypervisor with the registry when the agent (re)starts: a running VM the registry places on
    /// this host but the hypervisor has no instance of is booted, so a silo restart does not silently drop
    /// guests. A VM recorded <see cref="PowerState.Unknown"/> (a migration found this agent unreachable) is treated the
    /// same, and recorded running again once the hypervisor runs it. The hypervisor is never told to stop a VM here;
    /// unknown guests are left for the operator.
    /// </summary>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (await GrainFactory.GetGrain<IHostGrain>(HostId).GetAsync() is not { } host)
        {
            return;
        }

        foreach (var vmId in host.Vms.Keys)
        {
            // Any instance (paused for a switchover, stopped after one, arriving) belongs to a migration
            // in flight: only a VM the hypervisor has no trace of is booted.
            var hypervisor = await runtime.VmStateAsync(HostId, vmId);
            if (hypervisor is null
                && await GrainFactory.GetGrain<IVmGrain>(vmId).GetAsync() is { Power: PowerState.Running or PowerState.Unknown } vm && vm.HostId == HostId)
            {
                await runtime.StartVmAsync(HostId, vm.Spec, await DiskAttachmentsAsync(vm.Spec));
                hypervisor = await runtime.VmStateAsync(HostId, vmId);
            }

            if (hypervisor == HypervisorVmState.Running)
            {
                await ResolveUnknownAsync(vmId);
            }
        }
    }

    /// <summary>This agent is back and the hypervisor runs the VM: a record left unknown while the agent was unreachable
    /// says running again. Best effort: the registry is only told what is known here.</summary>
    private async Task ResolveUnknownAsync(string vmId)
    {
        try
        {
            var vm = GrainFactory.GetGrain<IVmGrain>(vmId);
            if (await vm.GetAsync() is { Power: PowerState.Unknown } record && record.HostId == HostId)
            {
                await vm.ResolveUnknownAsync(PowerState.Running);
            }
        }
        catch (Exception ex) when (ex is Errors.OmigException or TimeoutException or OrleansException)
        {
            // The next activation, the migration's end or 'omig vm start' records it.
        }
    }

    public async Task<HostAgentInfo> GetInfoAsync() =>
        new(HostId, silo.Name, silo.SiloAddress.ToParsableString(), Environment.ProcessId, runtime.DriverName, await runtime.RunningVmsAsync(HostId));

    public async Task StartVmAsync(VmSpec spec) => await runtime.StartVmAsync(HostId, spec, await DiskAttachmentsAsync(spec));

    public Task DestroyVmAsync(string vmId) => runtime.DestroyVmAsync(HostId, vmId);

    public Task<ShutdownReport?> ShutdownForMoveAsync(string migrationId, string vmId, int gracefulTimeoutMs, int waitMs) =>
        runtime.ShutdownForMoveAsync(HostId, migrationId, vmId, TimeSpan.FromMilliseconds(Math.Max(0, gracefulTimeoutMs)),
            TimeSpan.FromMilliseconds(Math.Clamp(waitMs, 0, (int)MaxWait.TotalMilliseconds)));

    public async Task<DateTimeOffset> StartMovedAsync(string migrationId, VmSpec spec) =>
        await runtime.StartMovedAsync(HostId, migrationId, spec, await DiskAttachmentsAsync(spec));

    public async Task<IncomingEndpoint> PrepareIncomingAsync(string migrationId, VmSpec spec, MigrationTuning? tuning = null) =>
        await runtime.PrepareIncomingAsync(HostId, migrationId, spec, tuning, await DiskAttachmentsAsync(spec));

    /// <summary>Where this host attaches the VM's cloud disks, when its hypervisor attaches them itself and the block
    /// store serves them over the network; null otherwise. A migration's destination gets a read-only handle of its
    /// own here, before its hypervisor starts (the disk grain records it; the migration's rollback closes it).</summary>
    private async Task<IReadOnlyDictionary<string, BlockDeviceAttachment>?> DiskAttachmentsAsync(VmSpec spec)
    {
        if (!runtime.AttachesCloudDisks || spec.Disks.IsDefaultOrEmpty)
        {
            return null;
        }

        var attachments = new Dictionary<string, BlockDeviceAttachment>(StringComparer.Ordinal);
        foreach (var disk in spec.Disks)
        {
            if (await GrainFactory.GetGrain<ICloudDiskGrain>(disk.DiskId).AttachAsync(HostId) is { } attachment)
            {
                attachments[disk.DiskId] = attachment;
            }
        }

        return attachments;
    }

    public Task StartOutgoingAsync(string migrationId, string vmId, IncomingEndpoint destination, MigrationTuning tuning)
    {
        // The session rounds go straight from this agent to the destination's (never through the migration grain).
        var grains = GrainFactory;
        Func<SessionRoundMessage, Task<SessionRoundAck>>? send = destination is { SessionsAddress: not null, AgentHost: { } to }
            ? round => grains.GetGrain<IHostAgentGrain>(to).ApplySessionRoundAsync(migrationId, round)
            : null;
        return runtime.StartOutgoingAsync(HostId, migrationId, vmId, destination, tuning, send);
    }

    public Task<SessionRoundAck> ApplySessionRoundAsync(string migrationId, SessionRoundMessage round) =>
        runtime.ApplySessionRoundAsync(HostId, migrationId, round);

    public Task<OutgoingSnapshot> WaitOutgoingAsync(string migrationId, int waitMs) =>
        runtime.WaitOutgoingAsync(HostId, migrationId, TimeSpan.FromMilliseconds(Math.Clamp(waitMs, 0, (int)MaxWait.TotalMilliseconds)));

    public Task ForceSwitchoverAsync(string migrationId)
    {
        runtime.ForceSwitchover(HostId, migrationId);
        return Task.CompletedTask;
    }

    public Task SetDowntimeTargetAsync(string migrationId, double downtimeTargetMs)
    {
        runtime.SetDowntimeTarget(HostId, migrationId, downtimeTargetMs);
        return Task.CompletedTask;
    }

    public Task<FinalCopyReport> FinalCopyAsync(string migrationId) => runtime.FinalCopyAsync(HostId, migrationId);

    public Task<HypervisorVmState?> GetVmStateAsync(string vmId) => runtime.VmStateAsync(HostId, vmId);

    public Task<OrleansMigrate.Migration.GuestCheck> VerifyIncomingAsync(string migrationId) => runtime.VerifyIncomingAsync(HostId, migrationId);

    public Task<ResumeReport> ResumeIncomingAsync(string migrationId) => runtime.ResumeIncomingAsync(HostId, migrationId);

    public async Task<SwitchoverReport> SwitchoverAsync(string migrationId, SwitchoverPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var marks = new ConcurrentQueue<SwitchoverMark>();
        marks.Enqueue(SwitchoverMark.At("switchover armed", HostId, DateTimeOffset.UtcNow));
        var calls = 0;
        async Task Step(string name, Func<Task> action)
        {
            var start = DateTimeOffset.UtcNow;
            Interlocked.Increment(ref calls);
            await action();
            marks.Enqueue(new SwitchoverMark(name, HostId, start, DateTimeOffset.UtcNow));
        }

        // Every condition at once; the disks' I/O on the source is blocked from the take-over on (its VM is paused).
        var received = runtime.WaitReceivedAsync(HostId, migrationId);
        await Task.WhenAll(plan.Disks.Select(d => Step($"disk {d.DiskId} take-over", () => GrainFactory.GetGrain<ICloudDiskGrain>(d.DiskId).TakeOverAsync(HostId)))
            .Concat(plan.Nics.Select(n => Step($"relay {n.Ip} enable", () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).SetRelayEnabledAsync(n.Ip, migrationId, true))))
            .Append(received));
        marks.Enqueue(SwitchoverMark.At("final copy received", HostId, await received));

        // The resume is decided under the VM's lock, as an abort is: an abort that came first wins and this throws.
        marks.Enqueue(SwitchoverMark.At("resume sent", HostId, DateTimeOffset.UtcNow));
        var resumed = await runtime.ResumeIncomingAsync(HostId, migrationId);
        marks.Enqueue(SwitchoverMark.At("RESUME", HostId, resumed.ResumedAtUtc));
        return new SwitchoverReport(resumed.ResumedAtUtc, [.. marks], calls);
    }

    public Task<HypervisorReport?> CompleteOutgoingAsync(string migrationId, string vmId) => runtime.CompleteOutgoingAsync(HostId, migrationId, vmId);

    public Task<string?> GetVmDetailAsync(string vmId) => runtime.VmDetailAsync(HostId, vmId);

    public Task<string> QmpAsync(string vmId, string commandJson) => runtime.QmpAsync(HostId, vmId, commandJson);

    public Task<System.Collections.Immutable.ImmutableArray<string>> GetPluggedDevicesAsync(string vmId) => runtime.PluggedDevicesAsync(HostId, vmId);

    public Task<double> PlugDeviceAsync(string vmId, string deviceId) => runtime.PlugDeviceAsync(HostId, vmId, deviceId);

    public Task<double> UnplugDeviceAsync(string vmId, string deviceId) => runtime.UnplugDeviceAsync(HostId, vmId, deviceId);

    public Task<OrleansMigrate.Migration.PreflightPrediction> PredictAsync(string vmId, MigrationTuning tuning, int sampleMs) =>
        runtime.PredictAsync(HostId, vmId, tuning, TimeSpan.FromMilliseconds(Math.Clamp(sampleMs, 100, 10_000)));

    public Task CancelOutgoingAsync(string migrationId, string vmId, string reason) => runtime.CancelOutgoingAsync(HostId, migrationId, vmId, reason);

    public Task AbortIncomingAsync(string migrationId, string vmId, string reason) => runtime.AbortIncomingAsync(HostId, migrationId, vmId, reason);
}
