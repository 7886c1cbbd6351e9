using System.Runtime.CompilerServices;
using OrleansMigrate.Audit;
using OrleansMigrate.Client;

// The report records moved to OrleansMigrate.Abstractions (same namespace), so the continuous auditor grain can keep them.
[assembly: TypeForwardedTo(typeof(AuditFinding))]
[assembly: TypeForwardedTo(typeof(AuditReport))]

namespace OrleansMigrate.Client;

/// <summary>
/// Checks BRIEF.md's invariants against the components' own views, not the registry alone: each host agent's list of
/// the VMs its hypervisor runs, each disk's attachments and fencing generation, each VPC flow table, each host's
/// ledger and reservations, and the migrations in flight. The pass itself is <see cref="InvariantAudit"/>, which the
/// continuous auditor grain in the silo runs too.
/// </summary>
public static class FleetAuditor
{
    /// <summary>Runs one pass. <paramref name="stuckAfter"/>: an in-flight migration whose phase has not changed for longer
    /// is reported (default 10 minutes).</summary>
    public static Task<AuditReport> AuditAsync(OmigClient client, TimeSpan? stuckAfter = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        return InvariantAudit.RunAsync(client.Grains, stuckAfter ?? InvariantAudit.DefaultStuckAfter, cancellationToken);
    }
}
