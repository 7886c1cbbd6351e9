using System.Collections.Immutable;

// These records were first written in the client library and are used there as OrleansMigrate.Client.AuditReport and
// OrleansMigrate.Client.AuditFinding. They live in this assembly now so that the continuous auditor grain can keep and
// return them (they are serializable), and keep their namespace so every caller compiles unchanged; the client
// assembly forwards the types here.
namespace OrleansMigrate.Client;

/// <summary>One broken invariant, or a component the audit could not ask.</summary>
/// <param name="Invariant">Which invariant (BRIEF.md): <c>vm-runs-once</c>, <c>disk-one-writer</c>, <c>flow-delivers</c>,
/// <c>host-ledger</c>, <c>reservation-owned</c>, <c>migration-progress</c>, or <c>unreachable</c>
/// (<see cref="OrleansMigrate.Audit.InvariantAudit.Invariants"/>).</param>
/// <param name="Subject">The VM, disk, flow, host or migration concerned.</param>
/// <param name="Detail">What was found, in words.</param>
[GenerateSerializer, Immutable]
[Alias("omig.AuditFinding")]
public sealed record AuditFinding(
    [property: Id(0)] string Invariant,
    [property: Id(1)] string Subject,
    [property: Id(2)] string Detail);

/// <summary>What one audit pass saw.</summary>
/// <param name="Findings">Broken invariants (empty when all hold).</param>
/// <param name="VmsChecked">VMs checked against every component.</param>
/// <param name="VmsInMigration">VMs skipped because a migration of theirs is in flight (they legitimately sit on two hosts).</param>
/// <param name="HostsUnreachable">Hosts whose agent did not answer (their VMs are reported as unreachable, not as violations).</param>
[GenerateSerializer, Immutable]
[Alias("omig.AuditReport")]
public sealed record AuditReport(
    [property: Id(0)] ImmutableArray<AuditFinding> Findings,
    [property: Id(1)] int VmsChecked,
    [property: Id(2)] int VmsInMigration,
    [property: Id(3)] ImmutableArray<string> HostsUnreachable)
{
    public bool Clean => Findings.IsDefaultOrEmpty;
}
