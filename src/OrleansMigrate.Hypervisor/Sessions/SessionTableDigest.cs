namespace OrleansMigrate.Hypervisor.Sessions;

/// <summary>Order-independent digest of a session table: entry count and the sum (mod 2^64) of each entry's XxHash3.</summary>
public readonly record struct SessionTableDigest(long Count, ulong Hash);
