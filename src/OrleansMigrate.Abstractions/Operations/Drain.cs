using System.Collections.Immutable;

namespace OrleansMigrate.Operations;

/// <summary>How a host drain runs.</summary>
/// <param name="MaxParallel">Migrations of this drain in flight at once (1–64); the scheduler's per-host limits apply on top.</param>
/// <param name="Policy">Migration policy for every VM; null: each VM's instance class when it names a policy, else <c>standard</c>.</param>
/// <param name="PreferFirmware">Destinations already on this firmware version come first (a rolling upgrade, so no VM moves twice).</param>
/// <param name="MaxAttemptsPerVm">Migrations tried per VM before it is reported as failed (1–20).</param>
/// <param name="RequestedBy">Who asked (operator, campaign id), recorded on every migration.</param>
/// <param name="Preflight">Sample each VM's dirty rate before moving it: quickest predicted migrations first, and a VM
/// whose policy aborts rather than throttle is held back while its prediction says the target cannot be met now.</param>
/// <param name="Campaign">The campaign that started this drain: woken when the drain ends.</param>
/// <param name="DomainLabel">When set, destinations must carry the drained host's value of this host label (its failure
/// domain): a power plan's drains keep the load inside each domain so every domain keeps its headroom.</param>
[GenerateSerializer, Immutable]
[Alias("omig.DrainOptions")]
public sealed record DrainOptions(
    [property: Id(0)] int MaxParallel = 2,
    [property: Id(1)] string? Policy = null,
    [property: Id(2)] string? PreferFirmware = null,
    [property: Id(3)] int MaxAttemptsPerVm = 3,
    [property: Id(4)] string RequestedBy = "api",
    [property: Id(5)] bool Preflight = true,
    [property: Id(6)] string? Campaign = null,
    [property: Id(7)] string? DomainLabel = null);

/// <summary>Where a drain is.</summary>
public enum DrainState
{
    /// <summary>Migrating VMs away.</summary>
    Running = 0,

    /// <summary>Stopping: queued migrations cancelled, running ones finishing or rolling back.</summary>
    Aborting = 1,

    /// <summary>Every VM moved: the host is empty and in maintenance.</summary>
    Completed = 2,

    /// <summary>Ended with VMs that could not move (each with its reason); the host stays cordoned.</summary>
    Incomplete = 3,

    /// <summary>Stopped by an operator; the host stays cordoned.</summary>
    Aborted = 4,
}

/// <summary>Where one VM of a drain is.</summary>
public enum DrainVmState
{
    Pending = 0,
    Migrating = 1,
    Moved = 2,

    /// <summary>Cannot live-migrate at all (pass-through devices, a class that is never live-migrated), or no host can take it.</summary>
    Unmovable = 3,

    /// <summary>Every attempt rolled back or failed.</summary>
    Failed = 4,

    /// <summary>Not moved because the drain was aborted.</summary>
    Skipped = 5,
}

[GenerateSerializer, Immutable]
[Alias("omig.DrainVm")]
public sealed record DrainVm(
    [property: Id(0)] string VmId,
    [property: Id(1)] DrainVmState State,
    [property: Id(2)] string? MigrationId = null,
    [property: Id(3)] string? Destination = null,
    [property: Id(4)] string? Reason = null,
    [property: Id(5)] int Attempts = 0,
    [property: Id(6)] bool OwnerNotified = false);

/// <summary>A drain as its grain sees it.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.DrainStatus")]
public sealed record DrainStatus(
    [property: Id(0)] string HostId,
    [property: Id(1)] DrainState State,
    [property: Id(2)] DrainOptions Options,
    [property: Id(3)] ImmutableArray<DrainVm> Vms,
    [property: Id(4)] DateTimeOffset StartedAt,
    [property: Id(5)] DateTimeOffset? EndedAt,
    [property: Id(6)] string? Note,
    [property: Id(7)] int MigrationsRolledBack = 0,
    [property: Id(8)] int MigrationsFailed = 0)
{
    public bool IsEnded => State is DrainState.Completed or DrainState.Incomplete or DrainState.Aborted;
}

/// <summary>The drain of one host (key: host id): cordons it, migrates every VM away under the concurrency limit,
/// retries rollbacks, reports each VM that cannot move and why. Persisted; a control-silo restart resumes it.</summary>
[Alias("omig.IHostDrainGrain")]
public interface IHostDrainGrain : IGrainWithStringKey
{
    /// <summary>Starts a drain (idempotent while one runs: returns it). Refused when the host does not exist.</summary>
    [Alias("Start")]
    Task<DrainStatus> StartAsync(DrainOptions options);

    /// <summary>The current or last drain, or null when the host was never drained.</summary>
    [Alias("Get")]
    Task<DrainStatus?> GetAsync();

    /// <summary>The host's earlier drains, newest first (the current or last one is <see cref="GetAsync"/>).</summary>
    [Alias("History")]
    Task<ImmutableArray<DrainStatus>> GetHistoryAsync();

    /// <summary>Stops cleanly: queued migrations cancelled, running ones finish or roll back; the host stays cordoned.</summary>
    [Alias("Abort")]
    Task<DrainStatus> AbortAsync(string reason);

    /// <summary>One pass of the drive loop (timers and reminders call it; exposed for tests and re-drive).</summary>
    [Alias("Drive")]
    Task<DrainStatus?> DriveAsync();

    /// <summary>Removes this operation from the running list when it has ended (its own unlisting at the end failed);
    /// nothing when it runs. Decided in this grain's turn, so it cannot race a new start of the same id.</summary>
    [Alias("UnlistIfEnded")]
    Task UnlistIfEndedAsync();

    /// <summary>Something the drain waits for happened (one of its migrations ended): run a pass now rather than at the
    /// next tick. Passes asked for together run once.</summary>
    [Orleans.Concurrency.OneWay]
    [Alias("Wake")]
    Task WakeAsync();
}
