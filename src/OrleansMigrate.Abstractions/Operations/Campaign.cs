using System.Collections.Immutable;

namespace OrleansMigrate.Operations;

/// <summary>A rolling firmware-upgrade campaign: which hosts, how many at a time, how much may fail.</summary>
/// <param name="FirmwareVersion">Target version; hosts already on it or newer are left out.</param>
/// <param name="SelectorKey">Only hosts with this label (with <paramref name="SelectorValue"/>); null: every host.</param>
/// <param name="Batch">Hosts in maintenance at once (1–1000).</param>
/// <param name="MaxParallelMigrations">Migrations of the whole campaign at once (1–10000), shared by the batch's drains.</param>
/// <param name="FailureBudget">Failed hosts tolerated before the campaign pauses itself (1–10000).</param>
/// <param name="AllowDoubleMoves">False (the default): a host joins the batch only while the hosts already on the target
/// version have room for its VMs and those of the hosts draining, so a VM moves once (the batch ramps up as hosts are
/// upgraded). True: up to <paramref name="Batch"/> hosts at once from the start, their VMs going wherever there is room,
/// so some move again when their new host's turn comes.</param>
[GenerateSerializer, Immutable]
[Alias("omig.CampaignSpec")]
public sealed record CampaignSpec(
    [property: Id(0)] string FirmwareVersion,
    [property: Id(1)] string? SelectorKey = null,
    [property: Id(2)] string? SelectorValue = null,
    [property: Id(3)] int Batch = 1,
    [property: Id(4)] int MaxParallelMigrations = 4,
    [property: Id(5)] int FailureBudget = 1,
    [property: Id(6)] string RequestedBy = "api",
    [property: Id(7)] bool AllowDoubleMoves = false);

public enum CampaignState
{
    Running = 0,

    /// <summary>No new host starts; hosts in progress finish their step.</summary>
    Paused = 1,

    /// <summary>Drains in progress aborted, waiting for them to stop.</summary>
    Cancelling = 2,

    Completed = 3,
    Cancelled = 4,
}

public enum CampaignHostState
{
    Waiting = 0,
    Draining = 1,
    Upgrading = 2,
    Verifying = 3,
    Done = 4,
    Failed = 5,
    Skipped = 6,
}

[GenerateSerializer, Immutable]
[Alias("omig.CampaignHost")]
public sealed record CampaignHost(
    [property: Id(0)] string HostId,
    [property: Id(1)] CampaignHostState State,
    [property: Id(2)] string FromVersion,
    [property: Id(3)] string? Reason = null,
    [property: Id(4)] DateTimeOffset? StartedAt = null,
    [property: Id(5)] DateTimeOffset? EndedAt = null,
    [property: Id(6)] int VmsMoved = 0,
    [property: Id(7)] int MigrationsRolledBack = 0,
    [property: Id(8)] int MigrationsFailed = 0)
{
    /// <summary>VMs that could not move, with why. A body property, not a constructor parameter with <c>= default</c>:
    /// System.Text.Json's schema exporter (the API's OpenAPI document) cannot serialize a default <c>ImmutableArray</c>
    /// parameter value and failed the whole document. Same field id, so stored campaigns read back unchanged.</summary>
    [Id(9)] public ImmutableArray<string> Unmovable { get; init; } = [];
}

/// <summary>A campaign as its grain sees it, with the report figures.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.CampaignStatus")]
public sealed record CampaignStatus(
    [property: Id(0)] string CampaignId,
    [property: Id(1)] CampaignSpec Spec,
    [property: Id(2)] CampaignState State,
    [property: Id(3)] ImmutableArray<CampaignHost> Hosts,
    [property: Id(4)] int Failures,
    [property: Id(5)] string? Note,
    [property: Id(6)] DateTimeOffset CreatedAt,
    [property: Id(7)] DateTimeOffset? EndedAt,
    [property: Id(8)] int FailuresAtResume = 0)
{
    public bool IsEnded => State is CampaignState.Completed or CampaignState.Cancelled;

    public int HostsUpgraded => Hosts.Count(h => h.State == CampaignHostState.Done);

    public int HostsFailed => Hosts.Count(h => h.State == CampaignHostState.Failed);

    public int VmsMoved => Hosts.Sum(h => h.VmsMoved);

    public int MigrationsCompleted => VmsMoved;

    public int MigrationsRolledBack => Hosts.Sum(h => h.MigrationsRolledBack);

    public int MigrationsFailed => Hosts.Sum(h => h.MigrationsFailed);

    /// <summary>VMs that could not move, with the host and the reason.</summary>
    public ImmutableArray<string> Unmovable => [.. Hosts.SelectMany(h => h.Unmovable.IsDefault ? [] : h.Unmovable)];

    public double? TotalSeconds => EndedAt is { } end ? (end - CreatedAt).TotalSeconds : null;
}

/// <summary>One rolling-upgrade campaign (key: campaign id). Per host: drain → upgrade → verify health and version →
/// uncordon; migrated VMs prefer hosts already upgraded. Persisted; a control-silo restart resumes it.</summary>
[Alias("omig.ICampaignGrain")]
public interface ICampaignGrain : IGrainWithStringKey
{
    [Alias("Start")]
    Task<CampaignStatus> StartAsync(CampaignSpec spec);

    [Alias("Get")]
    Task<CampaignStatus?> GetAsync();

    /// <summary>Counts and the hosts in progress (<see cref="CampaignSummary"/>); null when the campaign does not exist.</summary>
    [Alias("GetSummary")]
    Task<CampaignSummary?> GetSummaryAsync();

    [Alias("Pause")]
    Task<CampaignStatus> PauseAsync(string reason);

    [Alias("Resume")]
    Task<CampaignStatus> ResumeAsync();

    [Alias("Cancel")]
    Task<CampaignStatus> CancelAsync(string reason);

    [Alias("Drive")]
    Task<CampaignStatus?> DriveAsync();

    /// <summary>Removes this operation from the running list when it has ended (its own unlisting at the end failed);
    /// nothing when it runs. Decided in this grain's turn, so it cannot race a new start of the same id.</summary>
    [Alias("UnlistIfEnded")]
    Task UnlistIfEndedAsync();

    /// <summary>Something the campaign waits for happened (a drain or an upgrade ended): run a pass now rather than at
    /// the next tick. Passes asked for together run once.</summary>
    [Orleans.Concurrency.OneWay]
    [Alias("Wake")]
    Task WakeAsync();
}

/// <summary>The ids of every campaign (one activation, key <see cref="Key"/>).</summary>
[Alias("omig.ICampaignDirectoryGrain")]
public interface ICampaignDirectoryGrain : IGrainWithStringKey
{
    const string Key = "campaigns";

    [Alias("Add")]
    Task AddAsync(string campaignId);

    [Alias("List")]
    Task<ImmutableArray<string>> ListAsync();
}

/// <summary>
/// A campaign at a glance, of a size independent of the fleet: its hosts counted by step, and only the hosts in progress
/// listed (at most the batch). What <c>/v1/events</c> sends for a campaign's progress, where the whole
/// <see cref="CampaignStatus"/> (one entry per host) would be megabytes per event at 10,000 hosts.
/// </summary>
[GenerateSerializer, Immutable]
[Alias("omig.CampaignSummary")]
public sealed record CampaignSummary(
    [property: Id(0)] string CampaignId,
    [property: Id(1)] string FirmwareVersion,
    [property: Id(2)] CampaignState State,
    [property: Id(3)] int Hosts,
    [property: Id(4)] int HostsWaiting,
    [property: Id(5)] int HostsInProgress,
    [property: Id(6)] int HostsDone,
    [property: Id(7)] int HostsFailed,
    [property: Id(8)] int HostsSkipped,
    [property: Id(9)] ImmutableArray<CampaignHost> InProgress,
    [property: Id(10)] int VmsMoved,
    [property: Id(11)] int Failures,
    [property: Id(12)] string? Note,
    [property: Id(13)] DateTimeOffset CreatedAt,
    [property: Id(14)] DateTimeOffset? EndedAt)
{
    public bool IsEnded => State is CampaignState.Completed or CampaignState.Cancelled;

    public static CampaignSummary Of(CampaignStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        int waiting = 0, done = 0, failed = 0, skipped = 0;
        var inProgress = ImmutableArray.CreateBuilder<CampaignHost>();
        foreach (var h in status.Hosts)
        {
            switch (h.State)
            {
                case CampaignHostState.Waiting: waiting++; break;
                case CampaignHostState.Done: done++; break;
                case CampaignHostState.Failed: failed++; break;
                case CampaignHostState.Skipped: skipped++; break;
                default: inProgress.Add(h); break;
            }
        }

        return new CampaignSummary(status.CampaignId, status.Spec.FirmwareVersion, status.State, status.Hosts.Length, waiting,
            inProgress.Count, done, failed, skipped, inProgress.ToImmutable(), status.VmsMoved, status.Failures, status.Note,
            status.CreatedAt, status.EndedAt);
    }
}
