using System.Collections.Immutable;
using OrleansMigrate.Agents;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Audit;

/// <summary>
/// One pass of the checks of BRIEF.md's invariants against the components' own views, not the registry alone: each host
/// agent's list of the VMs its hypervisor runs, each disk's attachments and fencing generation, each VPC flow table, each
/// host's ledger and reservations, and the migrations in flight. Needs only a grain factory, so it runs in a client
/// (<c>omig audit</c>, through <c>OrleansMigrate.Client.FleetAuditor</c>) and inside a silo (the continuous auditor grain).
/// </summary>
public static class InvariantAudit
{
    public const string VmRunsOnce = "vm-runs-once";
    public const string DiskOneWriter = "disk-one-writer";
    public const string FlowDelivers = "flow-delivers";
    public const string HostLedger = "host-ledger";
    public const string ReservationOwned = "reservation-owned";
    public const string MigrationProgress = "migration-progress";
    public const string Unreachable = "unreachable";

    /// <summary>Default for a pass's <c>stuckAfter</c>.</summary>
    public static readonly TimeSpan DefaultStuckAfter = TimeSpan.FromMinutes(10);

    /// <summary>Every value <see cref="AuditFinding.Invariant"/> takes, in a stable order.</summary>
    public static ImmutableArray<string> Invariants { get; } =
        [VmRunsOnce, DiskOneWriter, FlowDelivers, HostLedger, ReservationOwned, MigrationProgress, Unreachable];

    /// <summary>Findings of <paramref name="report"/> counted per invariant, with 0 for every invariant that holds.</summary>
    public static ImmutableSortedDictionary<string, int> CountByInvariant(AuditReport? report)
    {
        var counts = Invariants.ToDictionary(i => i, _ => 0, StringComparer.Ordinal);
        foreach (var f in report?.Findings ?? [])
        {
            counts[f.Invariant] = counts.GetValueOrDefault(f.Invariant) + 1;
        }

        return counts.ToImmutableSortedDictionary(StringComparer.Ordinal);
    }

    /// <summary>Runs one pass. <paramref name="stuckAfter"/>: an in-flight migration whose phase has not changed for longer
    /// is reported. Every call is bounded by <paramref name="cancellationToken"/>: cancelling it abandons the pass.</summary>
    public static async Task<AuditReport> RunAsync(IGrainFactory grains, TimeSpan stuckAfter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(grains);
        var ct = cancellationToken;
        var findings = new List<AuditFinding>();
        var fleet = grains.GetGrain<IFleetGrain>(IFleetGrain.Key);
        var scheduler = new SchedulerRouter(grains);
        var hosts = await fleet.ListHostsAsync().WaitAsync(ct);
        // Paged from the index shards, not through the fleet grain: the pass never occupies the fleet's coordinator.
        var vms = await VmIndexReader.ReadAllAsync(grains, VmIndexReader.DefaultConcurrency, ct);

        // By id: a lookup per VM, not a scan of the hosts (O(V·H) took minutes per pass at 200,000 VMs × 10,000 hosts).
        var hostsById = hosts.GroupBy(h => h.HostId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var active = await scheduler.ListAsync(includeEnded: false).WaitAsync(ct);
        var migrating = active.Select(m => m.Request.VmId).ToHashSet(StringComparer.Ordinal);

        // Where each VM actually runs, as the hypervisors say.
        var running = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var unreachable = new List<string>();
        foreach (var host in hosts)
        {
            ct.ThrowIfCancellationRequested();
            HostAgentInfo info;
            try
            {
                info = await grains.GetGrain<IHostAgentGrain>(host.HostId).GetInfoAsync().WaitAsync(ct);
            }
            catch (Exception ex) when (AgentErrors.IsUnreachable(ex) || ex is OmigException { Code: OmigErrorCode.Unavailable })
            {
                unreachable.Add(host.HostId);
                findings.Add(new AuditFinding(Unreachable, host.HostId, AgentErrors.Describe(host.HostId, ex)));
                continue;
            }

            foreach (var vm in info.RunningVms)
            {
                (running.TryGetValue(vm, out var list) ? list : running[vm] = []).Add(host.HostId);
            }
        }

        var checkedVms = 0;
        foreach (var vm in vms)
        {
            ct.ThrowIfCancellationRequested();
            if (migrating.Contains(vm.VmId) || unreachable.Contains(vm.HostId))
            {
                continue;
            }

            checkedVms++;
            var where = running.TryGetValue(vm.VmId, out var list) ? list : [];
            // Unknown: a migration found the host's agent unreachable; now that it answers, the VM should run there.
            var shouldRun = vm.Power is PowerState.Running or PowerState.Paused or PowerState.Unknown;
            if (shouldRun ? where.Count != 1 || where[0] != vm.HostId : where.Count != 0)
            {
                findings.Add(new AuditFinding(VmRunsOnce, vm.VmId,
                    $"recorded {Naming.EnumNames.Of(vm.Power)} on {vm.HostId} but its hypervisors run it on [{string.Join(",", where)}]"));
            }

            foreach (var d in vm.Spec.Disks)
            {
                var disk = await grains.GetGrain<ICloudDiskGrain>(d.DiskId).GetAsync().WaitAsync(ct);
                var writers = disk?.Attachments.Where(a => a.Value.Mode == DiskAttachmentMode.ReadWrite).Select(a => a.Key).ToList() ?? [];
                if (writers.Count > 1 || (writers.Count == 1 && writers[0] != vm.HostId) || disk?.WriterHost != vm.HostId)
                {
                    findings.Add(new AuditFinding(DiskOneWriter, d.DiskId,
                        $"disk of VM {vm.VmId} is writable on [{string.Join(",", writers)}] (writer {disk?.WriterHost ?? "none"}, generation {disk?.FencingGeneration}) instead of only {vm.HostId}"));
                }
            }

            foreach (var nic in vm.Spec.Nics)
            {
                var table = await grains.GetGrain<IVpcFlowTableGrain>(nic.VpcId).GetAsync().WaitAsync(ct);
                var flowHost = table.Flows.TryGetValue(nic.Ip, out var flow) ? flow.HostId : null;
                if (flowHost != vm.HostId)
                {
                    findings.Add(new AuditFinding(FlowDelivers, $"{nic.VpcId}/{nic.Ip}", $"flow of VM {vm.VmId} delivers to [{flowHost}] instead of {vm.HostId}"));
                }
            }

            if (!hostsById.TryGetValue(vm.HostId, out var record) || !record.Vms.ContainsKey(vm.VmId))
            {
                findings.Add(new AuditFinding(HostLedger, vm.HostId, $"the host's ledger does not account for VM {vm.VmId}"));
            }
        }

        foreach (var extra in running.Keys.Except(vms.Select(v => v.VmId), StringComparer.Ordinal))
        {
            findings.Add(new AuditFinding(VmRunsOnce, extra, $"runs on [{string.Join(",", running[extra])}] but the registry does not know it"));
        }

        // No reservation outlives its operation: a migration's reservation needs that migration in flight.
        var activeIds = active.Select(m => m.MigrationId).ToHashSet(StringComparer.Ordinal);
        foreach (var host in hosts)
        {
            foreach (var reservation in host.Reservations.Keys.Where(k => k.StartsWith("mig-", StringComparison.Ordinal) && !activeIds.Contains(k)))
            {
                ct.ThrowIfCancellationRequested();
                var owner = await grains.GetGrain<IMigrationGrain>(reservation).GetAsync().WaitAsync(ct);
                if (owner is null || owner.IsEnded)
                {
                    findings.Add(new AuditFinding(ReservationOwned, host.HostId,
                        owner is null ? $"reservation {reservation} has no migration" : $"reservation {reservation} outlives its migration ({Naming.EnumNames.Of(owner.Phase)})"));
                }
            }
        }

        foreach (var m in active.Where(m => m.Phase != MigrationPhase.Queued))
        {
            var since = m.Timeline.IsDefaultOrEmpty ? m.CreatedAt : m.Timeline[^1].StartedAt;
            if (DateTimeOffset.UtcNow - since > stuckAfter)
            {
                findings.Add(new AuditFinding(MigrationProgress, m.MigrationId, $"in {Naming.EnumNames.Of(m.Phase)} since {since:u} (more than {stuckAfter.TotalMinutes:0.#} min)"));
            }
        }

        return new AuditReport([.. findings], checkedVms, vms.Count(v => migrating.Contains(v.VmId)), [.. unreachable]);
    }
}
