using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Client;

/// <summary>One broken invariant, or a component the audit could not ask.</summary>
/// <param name="Invariant">Which invariant (BRIEF.md): <c>vm-runs-once</c>, <c>disk-one-writer</c>, <c>flow-delivers</c>,
/// <c>host-ledger</c>, <c>reservation-owned</c>, <c>migration-progress</c>, or <c>unreachable</c>.</param>
/// <param name="Subject">The VM, disk, flow, host or migration concerned.</param>
/// <param name="Detail">What was found, in words.</param>
public sealed record AuditFinding(string Invariant, string Subject, string Detail);

/// <summary>What one audit pass saw.</summary>
/// <param name="Findings">Broken invariants (empty when all hold).</param>
/// <param name="VmsChecked">VMs checked against every component.</param>
/// <param name="VmsInMigration">VMs skipped because a migration of theirs is in flight (they legitimately sit on two hosts).</param>
/// <param name="HostsUnreachable">Hosts whose agent did not answer (their VMs are reported as unreachable, not as violations).</param>
public sealed record AuditReport(ImmutableArray<AuditFinding> Findings, int VmsChecked, int VmsInMigration, ImmutableArray<string> HostsUnreachable)
{
    public bool Clean => Findings.IsEmpty;
}

/// <summary>
/// Checks BRIEF.md's invariants against the components' own views, not the registry alone: each host agent's list of
/// the VMs its hypervisor runs, each disk's attachments and fencing generation, each VPC flow table, each host's
/// ledger and reservations, and the migrations in flight.
/// </summary>
public static class FleetAuditor
{
    /// <summary>Runs one pass. <paramref name="stuckAfter"/>: an in-flight migration whose phase has not changed for longer
    /// is reported (default 10 minutes).</summary>
    public static async Task<AuditReport> AuditAsync(OmigClient client, TimeSpan? stuckAfter = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        var stuck = stuckAfter ?? TimeSpan.FromMinutes(10);
        var findings = new List<AuditFinding>();
        var hosts = await client.ListHostsAsync();
        var vms = await client.ListVmsAsync();
        var active = await client.ListMigrationsAsync(includeEnded: false);
        var migrating = active.Select(m => m.Request.VmId).ToHashSet(StringComparer.Ordinal);

        // Where each VM actually runs, as the hypervisors say.
        var running = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var unreachable = new List<string>();
        foreach (var host in hosts)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                foreach (var vm in (await client.GetHostAgentAsync(host.HostId)).RunningVms)
                {
                    (running.TryGetValue(vm, out var list) ? list : running[vm] = []).Add(host.HostId);
                }
            }
            catch (OmigException ex) when (ex.Code == OmigErrorCode.Unavailable)
            {
                unreachable.Add(host.HostId);
                findings.Add(new AuditFinding("unreachable", host.HostId, ex.Reason));
            }
        }

        var checkedVms = 0;
        foreach (var vm in vms)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (migrating.Contains(vm.VmId) || unreachable.Contains(vm.HostId))
            {
                continue;
            }

            checkedVms++;
            var where = running.TryGetValue(vm.VmId, out var list) ? list : [];
            var shouldRun = vm.Power is PowerState.Running or PowerState.Paused;
            if (shouldRun ? where.Count != 1 || where[0] != vm.HostId : where.Count != 0)
            {
                findings.Add(new AuditFinding("vm-runs-once", vm.VmId,
                    $"recorded {vm.Power.ToString().ToLowerInvariant()} on {vm.HostId} but its hypervisors run it on [{string.Join(",", where)}]"));
            }

            foreach (var d in vm.Spec.Disks)
            {
                var disk = await client.GetDiskAsync(d.DiskId);
                var writers = disk?.Attachments.Where(a => a.Value.Mode == DiskAttachmentMode.ReadWrite).Select(a => a.Key).ToList() ?? [];
                if (writers.Count > 1 || (writers.Count == 1 && writers[0] != vm.HostId) || disk?.WriterHost != vm.HostId)
                {
                    findings.Add(new AuditFinding("disk-one-writer", d.DiskId,
                        $"disk of VM {vm.VmId} is writable on [{string.Join(",", writers)}] (writer {disk?.WriterHost ?? "none"}, generation {disk?.FencingGeneration}) instead of only {vm.HostId}"));
                }
            }

            foreach (var nic in vm.Spec.Nics)
            {
                var table = await client.GetVpcAsync(nic.VpcId);
                var flowHost = table.Flows.TryGetValue(nic.Ip, out var flow) ? flow.HostId : null;
                if (flowHost != vm.HostId)
                {
                    findings.Add(new AuditFinding("flow-delivers", $"{nic.VpcId}/{nic.Ip}", $"flow of VM {vm.VmId} delivers to [{flowHost}] instead of {vm.HostId}"));
                }
            }

            if (hosts.FirstOrDefault(h => h.HostId == vm.HostId) is not { } record || !record.Vms.ContainsKey(vm.VmId))
            {
                findings.Add(new AuditFinding("host-ledger", vm.HostId, $"the host's ledger does not account for VM {vm.VmId}"));
            }
        }

        foreach (var extra in running.Keys.Except(vms.Select(v => v.VmId), StringComparer.Ordinal))
        {
            findings.Add(new AuditFinding("vm-runs-once", extra, $"runs on [{string.Join(",", running[extra])}] but the registry does not know it"));
        }

        // No reservation outlives its operation: a migration's reservation needs that migration in flight.
        var activeIds = active.Select(m => m.MigrationId).ToHashSet(StringComparer.Ordinal);
        foreach (var host in hosts)
        {
            foreach (var reservation in host.Reservations.Keys.Where(k => k.StartsWith("mig-", StringComparison.Ordinal) && !activeIds.Contains(k)))
            {
                MigrationStatus? owner;
                try
                {
                    owner = await client.GetMigrationAsync(reservation);
                }
                catch (OmigException ex) when (ex.Code is OmigErrorCode.NotFound or OmigErrorCode.InvalidArgument)
                {
                    owner = null;
                }

                if (owner is null || owner.IsEnded)
                {
                    findings.Add(new AuditFinding("reservation-owned", host.HostId,
                        owner is null ? $"reservation {reservation} has no migration" : $"reservation {reservation} outlives its migration ({owner.Phase})"));
                }
            }
        }

        foreach (var m in active.Where(m => m.Phase != MigrationPhase.Queued))
        {
            var since = m.Timeline.IsDefaultOrEmpty ? m.CreatedAt : m.Timeline[^1].StartedAt;
            if (DateTimeOffset.UtcNow - since > stuck)
            {
                findings.Add(new AuditFinding("migration-progress", m.MigrationId, $"in {m.Phase} since {since:u} (more than {stuck.TotalMinutes:0.#} min)"));
            }
        }

        return new AuditReport([.. findings], checkedVms, vms.Count(v => migrating.Contains(v.VmId)), [.. unreachable]);
    }
}
