namespace OrleansMigrate.Migration;

/// <summary>A request to live-migrate one VM.</summary>
/// <param name="DestinationHost">Target host, or null to let placement choose.</param>
/// <param name="Policy">Migration policy name; null for the VM class's default.</param>
/// <param name="Drain">The host whose drain asked for this migration: its drain is woken when the migration ends
/// (instead of finding out at its next pass).</param>
/// <param name="Cold">A cold move instead of a live migration: the owner told, the guest shut down (gracefully, then hard
/// after the policy's timeout), its disks handed over at a new fencing generation, its flows re-pointed, and it started
/// on the destination. For VMs that cannot be live-migrated (pass-through devices, a policy that never live-migrates);
/// the policy must allow it (<c>ColdMove=allow</c>).</param>
[GenerateSerializer, Immutable]
[Alias("omig.MigrationRequest")]
public sealed record MigrationRequest(
    [property: Id(0)] string VmId,
    [property: Id(1)] string? DestinationHost = null,
    [property: Id(2)] string? Policy = null,
    [property: Id(3)] OrchestrationMode Mode = OrchestrationMode.Parallel,
    [property: Id(4)] MigrationPriority Priority = MigrationPriority.User,
    [property: Id(5)] string RequestedBy = "api",
    [property: Id(6)] string? Drain = null,
    [property: Id(7)] bool Cold = false);
