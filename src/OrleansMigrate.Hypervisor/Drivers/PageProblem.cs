namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>One page that failed the consistency check.</summary>
/// <param name="PageIndex">Guest page frame number.</param>
/// <param name="Kind">What is wrong.</param>
/// <param name="Detail">Expected and found, in words.</param>
public sealed record PageProblem(long PageIndex, PageProblemKind Kind, string Detail);
