using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>The entry standards of <see cref="MigrationPhases.Table"/>, each asked of its component.</summary>
public sealed partial class MigrationGrain
{
    /// <summary>Checks the entry standard of <paramref name="phase"/> by asking the components (see <see cref="MigrationPhases.Table"/>).</summary>
    /// <param name="source">The source agent's latest answer, when the caller has just received it.</param>
    private async Task CheckEntryAsync(MigrationPhase phase, OutgoingSnapshot? source = null)
    {
        var unmet = new List<string>();
        foreach (var condition in MigrationPhases.EntryStandard(phase, S.Request!.Mode))
        {
            unmet.AddRange(await UnmetAsync(condition.Check, source));
        }

        if (unmet.Count > 0)
        {
            throw new OmigException(OmigErrorCode.Conflict, null, $"entry standard of {phase} not met: {string.Join("; ", unmet)}");
        }
    }

    /// <summary>Asks the component of one entry-standard item (<see cref="MigrationPhases.Table"/>) whether it holds: what
    /// is missing, or nothing.</summary>
    private async Task<IEnumerable<string>> UnmetAsync(EntryCheck check, OutgoingSnapshot? source)
    {
        switch (check)
        {
            case EntryCheck.VmRunsOnSource:
                var power = await Source("read the VM's state", a => a.GetVmStateAsync(Vm.VmId));
                return power == HypervisorVmState.Running ? [] : [$"VM {Vm.VmId} is {(power is { } p ? Naming.EnumNames.Of(p) : "not known")} on {S.SourceHost}, not running"];
            case EntryCheck.NoOtherMigrationOfVm:
                var open = await SchedulerShards.Shard(GrainFactory, SchedulerShards.OfMigration(Id)).OpenMigrationsOfVmAsync(Vm.VmId);
                return [.. open.Where(other => other != Id).Select(other => $"migration {other} of VM {Vm.VmId} is open")];
            case EntryCheck.CapacityReserved:
                var host = await GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).GetAsync();
                return host is not null && host.Reservations.ContainsKey(Id) ? [] : [$"no capacity reserved on {S.DestinationHost}"];
            case EntryCheck.DestinationPrepared:
                return S.Endpoint is not null ? [] : ["destination not prepared for incoming"];
            case EntryCheck.DisksOpenReadOnly:
                var disks = await Task.WhenAll(Vm.Disks.Select(async d => (d.DiskId, Record: await GrainFactory.GetGrain<ICloudDiskGrain>(d.DiskId).GetAsync())));
                return disks.Where(d => d.Record is null || !d.Record.Attachments.TryGetValue(S.DestinationHost, out var a) || a.Mode != DiskAttachmentMode.ReadOnly)
                    .Select(d => $"disk {d.DiskId} not open read-only on {S.DestinationHost}");
            case EntryCheck.RelaysStaged:
                var tables = await Task.WhenAll(Vm.Nics.Select(async n => (n.Ip, Table: await GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).GetAsync())));
                return tables.Where(t => !t.Table.Relays.Any(r => r.Ip == t.Ip && r.OwnerId == Id && !r.Enabled && r.ToHost == S.DestinationHost))
                    .Select(t => $"relay for {t.Ip} not staged");
            case EntryCheck.SourceStreaming:
                var streaming = source ?? await Source("read the pre-copy state", a => a.WaitOutgoingAsync(Id, 0));
                return streaming.Failure is null ? [] : [$"source stream not running ({streaming.State})"];
            case EntryCheck.SourcePaused:
                var paused = source ?? await Source("read the pre-copy state", a => a.WaitOutgoingAsync(Id, 0));
                return paused.Failure is null && paused.Paused ? [] : ["source VM not paused for switchover"];
            case EntryCheck.DestinationResumed:
                // The destination's own answer to the resume (its RESUME time), recorded by the switchover just now.
                return S.Downtime is not null ? [] : [$"no resume reported by {S.DestinationHost}"];
            default:
                throw new InvalidOperationException($"entry check {check} has no implementation");
        }
    }
}
