using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.Bench;

/// <summary>One benchmark case: a guest, a link, and migration settings. Cases of one <see cref="Group"/> run interleaved.</summary>
/// <param name="Name">Case name in the JSON.</param>
/// <param name="Group">Cases of a group alternate run by run so machine noise hits them alike.</param>
/// <param name="GuestMiB">Guest size.</param>
/// <param name="Workload">Dirtying workload, null for idle.</param>
/// <param name="Migration">Migration options (link, compression, pre-last-copy, limits).</param>
/// <param name="Runs">Measured runs.</param>
/// <param name="Note">What is special about the case, for the JSON.</param>
public sealed record BenchmarkCase(string Name, string Group, int GuestMiB, GuestWorkloadOptions? Workload, MigrationOptions Migration, int Runs, string? Note);
