using Orleans.Concurrency;

namespace OrleansMigrate.Migration;

/// <summary>
/// Coordinates one live migration across the VM, host, cloud-disk, VPC and host-agent grains (key:
/// migration id). Started by <see cref="IMigrationSchedulerGrain"/>; persisted at every phase transition
/// and re-driven by a reminder if its silo dies.
/// </summary>
[Alias("omig.IMigrationGrain")]
public interface IMigrationGrain : IGrainWithStringKey
{
    /// <summary>Starts the migration (idempotent for the same request). Returns at once; it runs in the background.</summary>
    [Alias("Start")]
    Task<MigrationStatus> StartAsync(MigrationRequest request, string sourceHost, string destinationHost);

    /// <summary>The status, or null for an unknown id.</summary>
    [AlwaysInterleave]
    [Alias("Get")]
    Task<MigrationStatus?> GetAsync();

    /// <summary>Asks for a rollback. Honoured before the commit point; after it the migration rolls forward.</summary>
    [AlwaysInterleave]
    [Alias("Cancel")]
    Task<MigrationStatus> CancelAsync(string reason);

    /// <summary>Asks a migration in pre-copy (or its pre-last-copy stage) to stop iterating and switch over now (Nova's
    /// <c>force_complete</c>): the run loop tells the source's data plane, which pauses the VM at the end of its current
    /// round; the status then says <c>forced</c> as its <see cref="MigrationStatus.SwitchoverReason"/>. Asking again is
    /// harmless. A migration in any other phase (preparing, switching over, committed, ended, being rolled back) is refused
    /// with a conflict naming the phase.</summary>
    [AlwaysInterleave]
    [Alias("ForceComplete")]
    Task<MigrationStatus> ForceCompleteAsync(string requestedBy);

    /// <summary>Records a migration cancelled while it was queued (the scheduler calls it after removing the entry): it is
    /// stored as ended — rolled back with <paramref name="reason"/>, nothing started — so it can still be read and listed.
    /// A migration that has started is left as it is. Returns the status.</summary>
    [Alias("RecordCancelledQueued")]
    Task<MigrationStatus> RecordCancelledQueuedAsync(MigrationRequest request, string sourceHost, string destinationHost, DateTimeOffset submittedAt, string reason);

    /// <summary>Status updates (phase changes and progress, about every 200 ms) until the migration ends.</summary>
    [AlwaysInterleave]
    [Alias("Watch")]
    IAsyncEnumerable<MigrationStatus> WatchAsync(CancellationToken cancellationToken = default);
}
