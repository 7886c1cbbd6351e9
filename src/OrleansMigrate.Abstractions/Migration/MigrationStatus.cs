using System.Collections.Immutable;

namespace OrleansMigrate.Migration;

/// <summary>A migration as callers see it.</summary>
/// <param name="Failure">Why it rolled back or failed, or null.</param>
/// <param name="TotalMs">Prepare start to end, once ended.</param>
/// <param name="Hypervisor">The hypervisor's own numbers (downtime, total, transferred…), once committed.</param>
/// <param name="AgentWait">Set while the migration waits for a host's agent that does not answer (since when, until when);
/// kept on a migration that failed because the wait ran out.</param>
/// <param name="GuestCheck">What reading the destination guest after the resume found (null until it ran).</param>
/// <param name="SwitchoverReason">Why pre-copy stopped iterating, once it did: <c>converged</c> (the final copy fit the
/// downtime target), <c>limit</c> (the pre-copy round or time limit's force-switchover), <c>stall</c> (the stall detector
/// forced it), <c>forced</c> (an operator's force-complete), <c>requested</c> (the data plane was asked, by whom unknown).</param>
/// <param name="QueuedReason">While queued: why the scheduler's last admission pass did not admit it (a concurrency limit,
/// named with its numbers); null once admitted.</param>
/// <param name="Cold">A cold move's own record (how the guest stopped, when it ran again; its downtime is also
/// <see cref="Downtime"/>); null for a live migration.</param>
[GenerateSerializer, Immutable]
[Alias("omig.MigrationStatus")]
public sealed record MigrationStatus(
    [property: Id(0)] string MigrationId,
    [property: Id(1)] MigrationRequest Request,
    [property: Id(2)] string SourceHost,
    [property: Id(3)] string DestinationHost,
    [property: Id(4)] MigrationPhase Phase,
    [property: Id(5)] ImmutableArray<PhaseSpan> Timeline,
    [property: Id(6)] MigrationProgressInfo Progress,
    [property: Id(7)] DowntimeReport? Downtime,
    [property: Id(8)] string? Failure,
    [property: Id(9)] DateTimeOffset CreatedAt,
    [property: Id(10)] double? TotalMs,
    [property: Id(11)] int Attempts,
    [property: Id(12)] Agents.HypervisorReport? Hypervisor = null,
    [property: Id(13)] AgentWait? AgentWait = null,
    [property: Id(14)] GuestCheck? GuestCheck = null,
    [property: Id(15)] string? SwitchoverReason = null,
    [property: Id(16)] string? QueuedReason = null,
    [property: Id(17)] ColdMoveReport? Cold = null)
{
    // An init property (see VmSpec.Devices); left out, it reads as empty.
    /// <summary>The hot-plug steps of the VM's SR-IOV VFs, in order: unplugged on the source before
    /// pre-copy, plugged on the destination after the resume (or back on the source after a rollback). Empty for none.</summary>
    [Id(18)]
    public ImmutableArray<DeviceStep> DeviceSteps { get => field.IsDefault ? [] : field; init; }

    public bool IsEnded => Phase is MigrationPhase.Completed or MigrationPhase.RolledBack or MigrationPhase.Failed;
}
