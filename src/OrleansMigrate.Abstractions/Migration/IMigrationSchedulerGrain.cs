using System.Collections.Immutable;
using Orleans.Concurrency;

namespace OrleansMigrate.Migration;

/// <summary>
/// Admission for migrations, in <see cref="Shards"/> shards by the VM's source host (<see cref="SchedulerShards"/> routes):
/// a shard chooses the destination, allows one migration per VM at a time, keeps the queue, its list of migrations and
/// their history, and takes the concurrency slots (per host and per cluster, by priority) from the admission ledger
/// (<see cref="IAdmissionLedgerGrain"/>), which counts across shards.
/// </summary>
[Alias("omig.IMigrationSchedulerGrain")]
public interface IMigrationSchedulerGrain : IGrainWithStringKey
{
    /// <summary>Shard 0's key; it was the one scheduler's key before sharding, so its stored row (and the migrations open
    /// in it) carries on.</summary>
    const string Key = "scheduler";

    /// <summary>Scheduler shards. Fixed: a migration's id and its source host name its shard, in every process.</summary>
    const int Shards = 16;

    /// <summary>Submits a request for a VM on <paramref name="sourceHost"/> (as the caller read it; <see cref="SchedulerShards.SubmitAsync"/>).
    /// When the VM has since moved to a host of another shard nothing is stored and the answer names that host.</summary>
    [Alias("SubmitFrom")]
    Task<SubmitOutcome> SubmitFromAsync(MigrationRequest request, string sourceHost);

    /// <summary>The migrations this shard has admitted and not seen end, as slots (the admission ledger rebuilds from them).</summary>
    [AlwaysInterleave]
    [Alias("ListAdmitted")]
    Task<ImmutableArray<AdmissionSlot>> ListAdmittedAsync();

    /// <summary>Validates and accepts a request (routed to the VM's shard when sent to another); returns its migration id. A VM already migrating, a VM with
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

    /// <summary>The ids of the migrations of <paramref name="vmId"/> this shard holds open (queued or admitted, not yet
    /// ended): the Prepare entry standard's "no other migration of the VM". Reads memory only.</summary>
    [AlwaysInterleave]
    [Alias("OpenOfVm")]
    Task<ImmutableArray<string>> OpenMigrationsOfVmAsync(string vmId);

    /// <summary>Removes a migration that is still queued and records it as ended (rolled back, cancelled before it started,
    /// with <paramref name="reason"/>), so its id still answers; false when it was already admitted (cancel the migration instead).</summary>
    [Alias("CancelQueuedWithReason")]
    Task<bool> CancelQueuedAsync(string migrationId, string reason);

    /// <summary>Called by a migration when it ends, to free its admission slot.</summary>
    [Alias("Ended")]
    Task EndedAsync(string migrationId);
}
