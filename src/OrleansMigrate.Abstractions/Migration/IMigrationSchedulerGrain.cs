using System.Collections.Immutable;
using Orleans.Concurrency;

namespace OrleansMigrate.Migration;

/// <summary>
/// Admission for migrations (one activation per cluster, key <see cref="Key"/>): chooses the destination,
/// allows one migration per VM at a time, enforces per-host and per-cluster concurrency limits with
/// priority, and keeps the queue and the list of migrations.
/// </summary>
[Alias("omig.IMigrationSchedulerGrain")]
public interface IMigrationSchedulerGrain : IGrainWithStringKey
{
    const string Key = "scheduler";

    /// <summary>Validates and accepts a request; returns its migration id. A VM already migrating, a VM with
    /// pass-through devices, or no compatible destination is refused with the reason.</summary>
    [Alias("Submit")]
    Task<MigrationStatus> SubmitAsync(MigrationRequest request);

    /// <summary>The policies the control plane applies (built-in and configured).</summary>
    [AlwaysInterleave]
    [Alias("ListPolicies")]
    Task<ImmutableArray<Fleet.PolicyInfo>> ListPoliciesAsync();

    [AlwaysInterleave]
    [Alias("List")]
    Task<ImmutableArray<MigrationStatus>> ListAsync(bool includeEnded);

    /// <summary>The status of a migration the scheduler still holds (queued, or admitted and not yet ended); null once it
    /// has ended or was never submitted. Asks one entry, unlike <see cref="ListAsync"/>.</summary>
    [AlwaysInterleave]
    [Alias("FindOpen")]
    Task<MigrationStatus?> FindOpenAsync(string migrationId);

    /// <summary>Removes a migration that is still queued and records it as ended (rolled back, cancelled before it started,
    /// with <paramref name="reason"/>), so its id still answers; false when it was already admitted (cancel the migration instead).</summary>
    [Alias("CancelQueuedWithReason")]
    Task<bool> CancelQueuedAsync(string migrationId, string reason);

    /// <summary>Called by a migration when it ends, to free its admission slot.</summary>
    [Alias("Ended")]
    Task EndedAsync(string migrationId);
}
