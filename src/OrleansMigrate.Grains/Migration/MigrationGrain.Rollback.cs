using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>Rolling back before the commit point, and failing a rollback that cannot finish.</summary>
public sealed partial class MigrationGrain
{
    /// <summary>Before the commit point: the destination torn down first (so it can never resume after the source
    /// does), the disk handed back to the source, relays disabled, the source VM resumed, relays removed, the
    /// reservation released. If the destination turns out to have resumed, the migration rolls forward instead.</summary>
    private async Task RollBackAsync()
    {
        var reason = S.Failure ?? S.CancelReason ?? "rolled back";

        // A source guest that runs again (the data plane resumes it when the final copy fails before it was
        // fully sent) means the destination can never resume: give it its disks and packets back first.
        // With the source's agent unreachable the rollback waits here (Source: at most Omig:AgentWaitTimeoutSeconds),
        // before anything is undone; giving up then undoes what it can without that agent (GiveUpAsync).
        if (await Source("read the source VM's state (rollback)", a => a.GetVmStateAsync(Vm.VmId)) == HypervisorVmState.Running)
        {
            await RestoreSourceAsync();
        }

        try
        {
            await Retry("abort-incoming", () => Destination("tear the incoming VM down (rollback)", a => a.AbortIncomingAsync(Id, Vm.VmId, reason)));
        }
        catch (OmigException ex) when (ex.Code == OmigErrorCode.Conflict)
        {
            S.Failure = null;
            await MoveAsync(MigrationPhase.PostMigration);
            return;
        }

        // The source's hypervisor process died under the guest: nothing to resume. The migration fails, and the
        // VM is recorded as lost, needing a restart — never left looking like it runs.
        if (await Source("read the source VM's state (rollback)", a => a.GetVmStateAsync(Vm.VmId)) == HypervisorVmState.Lost)
        {
            var detail = await Source("read how the source VM ended (rollback)", a => a.GetVmDetailAsync(Vm.VmId));
            S.Failure = $"the source VM was lost ({detail ?? "its hypervisor process died"}); it needs a restart. Cause: {reason}";
            await RestoreSourceAsync();
            await Retry("cancel-outgoing", () => Source("stop the stream (rollback)", a => a.CancelOutgoingAsync(Id, Vm.VmId, reason)));
            await Task.WhenAll(Vm.Nics.Select(n => Retry($"relay {n.Ip} remove", () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).RemoveRelayAsync(n.Ip, Id))));
            await Retry("release-reservation", () => GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).ReleaseAsync(Id));
            await Retry("mark-vm-lost", () => GrainFactory.GetGrain<IVmGrain>(Vm.VmId).SetPowerAsync(PowerState.Lost));
            await MoveAsync(MigrationPhase.Failed);
            Ended("failed");
            return;
        }

        await RestoreSourceAsync();
        await Retry("cancel-outgoing", () => Source("resume the source VM (rollback)", a => a.CancelOutgoingAsync(Id, Vm.VmId, reason)));
        await PlugDevicesAsync(S.SourceHost, "(rollback)");
        await Task.WhenAll(Vm.Nics.Select(n => Retry($"relay {n.Ip} remove", () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).RemoveRelayAsync(n.Ip, Id))));
        await Retry("release-reservation", () => GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).ReleaseAsync(Id));
        await ResolveVmPowerAsync();
        await MoveAsync(MigrationPhase.RolledBack);
        Ended(S.CancelReason is not null && S.Failure is null ? "cancelled" : "rolled_back");
    }

    /// <summary>Disks writable on the source again, relays off, and (serial mode) flows pointing back at the
    /// source — everything the source guest needs before or as it runs again. Idempotent.</summary>
    private async Task RestoreSourceAsync()
    {
        await Task.WhenAll(Vm.Disks.Select(d => Retry($"disk {d.DiskId} restore source", () => GrainFactory.GetGrain<ICloudDiskGrain>(d.DiskId).RestoreWriterAsync(S.SourceHost))));
        // Disabling a relay this migration does not own returns at once, so no-relay mode takes this path unchanged.
        await Task.WhenAll(Vm.Nics.Select(n => Retry($"relay {n.Ip} disable", () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).SetRelayEnabledAsync(n.Ip, Id, false))));
        if (!Parallel)
        {
            // Serial mode may have re-pointed flows inside the failed switchover; a re-point still in flight
            // answers Conflict until it lands, so that one is waited out.
            await Task.WhenAll(Vm.Nics.Select(n => Retry($"flow {n.Ip} restore", () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).RepointFlowAsync(n.Ip, Vm.VmId, S.SourceHost), retryConflict: true)));
        }
    }

    /// <summary>Ends a rollback that cannot finish: best effort on the reservation and the relays, then Failed.</summary>
    private async Task FailAsync(string reason)
    {
        S.Failure = reason;
        LogFailed(logger, Id, reason);
        foreach (var release in Vm.Nics.Select(n => (Func<Task>)(() => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).RemoveRelayAsync(n.Ip, Id)))
                     .Append(() => GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).ReleaseAsync(Id)))
        {
            try
            {
                await release();
            }
            catch (Exception ex)
            {
                LogRetry(logger, Id, "fail-cleanup", 1, ex.Message);
            }
        }

        await MoveAsync(MigrationPhase.Failed);
        Ended("failed");
    }
}
