using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Grains.Operations;

/// <summary>Persisted state of <see cref="CampaignGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.CampaignGrainState")]
public sealed class CampaignGrainState
{
    /// <summary>The campaign; its hosts are here only in rows written before they moved to pages
    /// (<see cref="HostsInPages"/> false).</summary>
    [Id(0)] public CampaignStatus? Status { get; set; }

    /// <summary>The hosts are stored in <see cref="HostPageCount"/> <see cref="ICampaignHostsPageGrain"/> pages, and
    /// <see cref="Status"/> holds none.</summary>
    [Id(1)] public bool HostsInPages { get; set; }

    [Id(2)] public int HostPageCount { get; set; }
}

/// <summary>
/// A rolling firmware upgrade. Hosts are taken in order of fewest VMs first (cheap drains first: they become
/// upgraded, empty hosts that the next drains fill), <see cref="CampaignSpec.Batch"/> at a time once upgraded hosts
/// have room for the batch's VMs, so a VM moves once (see <see cref="CampaignSpec.AllowDoubleMoves"/>). Per host: a
/// drain (preferring destinations already on the target version, the batch sharing
/// <see cref="CampaignSpec.MaxParallelMigrations"/>) → the maintenance backend's upgrade → its health and version check
/// → the registry's firmware updated → uncordoned. A host that cannot be drained (VMs that cannot move), whose
/// upgrade fails or whose check disagrees counts against the failure budget; when the budget is spent the campaign
/// pauses itself. Driven by a timer while active and a reminder, so it survives a control-silo restart.
/// </summary>
[ControlPlanePlacement]
public sealed partial class CampaignGrain(
    [PersistentState("campaign", StorageNames.Fleet)] IPersistentState<CampaignGrainState> state,
    IMaintenanceBackend maintenance,
    FleetViewCache fleetView,
    TimeProvider time,
    ILogger<CampaignGrain> logger) : Grain, ICampaignGrain, IRemindable
{
    private const string DriveReminder = "campaign-drive";
    private readonly Dictionary<string, Task> _upgrades = new(StringComparer.Ordinal);

    /// <summary>Hosts whose upgrade finished in this activation: only their check is trusted; a host found in
    /// Verifying after a restart is upgraded again first (upgrades are idempotent).</summary>
    private readonly HashSet<string> _upgraded = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    /// <summary>How often the campaign looks at its migrations and starts more: a slot freed waits at most this long.</summary>
    private static readonly TimeSpan PassInterval = TimeSpan.FromMilliseconds(200);

    private DriveLoop? _loop;

    private string Id => this.GetPrimaryKeyString();

    /// <summary>The campaign with all its hosts, in memory; stored as a header row and pages (<see cref="SaveAsync"/>).</summary>
    private CampaignStatus? S { get; set; }

    /// <summary>The host pages as last stored (null: not known, the next save writes all).</summary>
    private List<ImmutableArray<CampaignHost>>? _storedPages;

    private FleetOperationRef Operation => new(FleetOperationKind.Campaign, Id);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        S = await LoadAsync();
        if (S is { IsEnded: false })
        {
            await RunningOperations.RelistAsync(GrainFactory, Operation, logger);
            await ArmAsync();
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        return Task.CompletedTask;
    }

    public async Task<CampaignStatus> StartAsync(CampaignSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Validate(spec);
        if (S is { } existing)
        {
            if (existing.Spec == spec)
            {
                return existing;
            }

            throw OmigException.Conflict("campaign", $"campaign '{Id}' already exists with another specification");
        }

        var hosts = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).ListHostsAsync();
        var chosen = hosts
            .Where(h => spec.SelectorKey is null || (h.Spec.Labels.TryGetValue(spec.SelectorKey, out var v) && v == spec.SelectorValue))
            .Where(h => VersionNumber.Compare(h.Spec.FirmwareVersion, spec.FirmwareVersion) < 0)
            .OrderBy(h => h.Vms.Count).ThenBy(h => h.HostId, StringComparer.Ordinal)
            .Select(h => h.Power == HostPowerState.On
                ? new CampaignHost(h.HostId, CampaignHostState.Waiting, h.Spec.FirmwareVersion)
                : new CampaignHost(h.HostId, CampaignHostState.Skipped, h.Spec.FirmwareVersion, PoweredOffSkip, EndedAt: time.GetUtcNow()))
            .ToImmutableArray();
        await RunningOperations.ListAsync(GrainFactory, Operation);
        S = new CampaignStatus(Id, spec, CampaignState.Running, chosen, 0,
            chosen.IsEmpty ? "no host to upgrade: every selected host already runs this version or newer" : null, time.GetUtcNow(), null);
        await SaveAsync();
        await GrainFactory.GetGrain<ICampaignDirectoryGrain>(ICampaignDirectoryGrain.Key).AddAsync(Id);
        LogStarted(logger, Id, spec.FirmwareVersion, chosen.Length);
        await ArmAsync();
        return await DriveAsync() ?? S;
    }

    public Task<CampaignStatus?> GetAsync() => Task.FromResult(S);

    public Task<CampaignSummary?> GetSummaryAsync() => Task.FromResult(S is { } s ? CampaignSummary.Of(s) : null);

    public Task UnlistIfEndedAsync() =>
        S is { IsEnded: false } ? Task.CompletedTask : RunningOperations.UnlistAsync(GrainFactory, Operation, logger);

    public async Task<CampaignStatus> PauseAsync(string reason)
    {
        var s = Require();
        if (s.State == CampaignState.Running)
        {
            S = s with { State = CampaignState.Paused, Note = $"paused: {reason}" };
            await SaveAsync();
        }

        return S!;
    }

    public async Task<CampaignStatus> ResumeAsync()
    {
        var s = Require();
        if (s.State != CampaignState.Paused)
        {
            throw OmigException.Conflict("campaign", $"campaign '{Id}' is {Naming.EnumNames.Of(s.State)}, not paused");
        }

        // A resume grants the budget again: the next FailureBudget failures pause it again.
        S = s with { State = CampaignState.Running, Note = "resumed", FailuresAtResume = s.Failures };
        await SaveAsync();
        await ArmAsync();
        return await DriveAsync() ?? S!;
    }

    public async Task<CampaignStatus> CancelAsync(string reason)
    {
        var s = Require();
        if (s.IsEnded || s.State == CampaignState.Cancelling)
        {
            return s;
        }

        S = s with { State = CampaignState.Cancelling, Note = $"cancelled: {reason}" };
        await SaveAsync();
        foreach (var host in S.Hosts.Where(h => h.State == CampaignHostState.Draining))
        {
            await GrainFactory.GetGrain<IHostDrainGrain>(host.HostId).AbortAsync($"campaign {Id} cancelled: {reason}");
        }

        await ArmAsync();
        return await DriveAsync() ?? S;
    }

    /// <summary>The stored campaign: the header row, and its hosts from their pages (or inline, in a row written before
    /// pages).</summary>
    private async Task<CampaignStatus?> LoadAsync()
    {
        if (state.State.Status is not { } header)
        {
            return null;
        }

        if (!state.State.HostsInPages)
        {
            return header;
        }

        ImmutableArray<CampaignHost>[] pages;
        try
        {
            pages = await Task.WhenAll(Enumerable.Range(0, state.State.HostPageCount)
                .Select(p => GrainFactory.GetGrain<ICampaignHostsPageGrain>(ICampaignHostsPageGrain.Key(Id, p)).GetAsync()));
        }
        catch (Exception ex) when (ex is not OmigException)
        {
            // A page's activation that failed on the database bypasses the call filter (DatabaseErrorFilter), and the
            // driver's exception cannot travel to a client: say "try again" in our words, or the caller sees a codec error.
            var cause = ex.GetBaseException();
            throw OmigException.Unavailable("storage", $"campaign '{Id}': its host pages could not be read ({cause.GetType().Name}: {cause.Message}); try again");
        }

        _storedPages = [.. pages];
        return header with { Hosts = [.. pages.SelectMany(p => p)] };
    }

    /// <summary>Stores the pages of hosts that changed since the last save, then the header (without hosts) when it or
    /// the page count changed. A row from before pages is rewritten whole once, as pages. A failed write throws (the
    /// pass is driven again); pages already written are correct on their own, as each holds its hosts as they are.</summary>
    private async Task SaveAsync()
    {
        var s = S!;
        var changed = CampaignHostPages.Changed(_storedPages, s.Hosts).ToList();
        await Task.WhenAll(changed.Select(p =>
            GrainFactory.GetGrain<ICampaignHostsPageGrain>(ICampaignHostsPageGrain.Key(Id, p)).SetAsync(CampaignHostPages.Page(s.Hosts, p))));
        var count = CampaignHostPages.CountFor(s.Hosts.Length);
        if (_storedPages is null || _storedPages.Count != count)
        {
            _storedPages = [.. Enumerable.Range(0, count).Select(p => CampaignHostPages.Page(s.Hosts, p))];
        }
        else
        {
            foreach (var p in changed)
            {
                _storedPages[p] = CampaignHostPages.Page(s.Hosts, p);
            }
        }

        var header = s with { Hosts = [] };
        if (!state.State.HostsInPages || state.State.HostPageCount != count || state.State.Status != header)
        {
            // A failed write leaves the row's fields as stored, so the next save writes the header again.
            var stored = (state.State.Status, state.State.HostsInPages, state.State.HostPageCount);
            (state.State.Status, state.State.HostsInPages, state.State.HostPageCount) = (header, true, count);
            await state.WriteOrRevertAsync(() => (state.State.Status, state.State.HostsInPages, state.State.HostPageCount) = stored);
        }
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => Loop.OnReminderAsync(S is { IsEnded: false });

    public async Task<CampaignStatus?> DriveAsync()
    {
        if (S is null || S.IsEnded)
        {
            return S;
        }

        var before = S;
        var hosts = S.Hosts.ToList();
        for (var i = 0; i < hosts.Count; i++)
        {
            // As many steps as are ready now (an upgrade that just ended is verified in the same pass), bounded.
            for (var step = 0; step < 4; step++)
            {
                var was = hosts[i].State;
                hosts[i] = await AdvanceAsync(hosts[i]);
                if (hosts[i].State == was)
                {
                    break;
                }
            }
        }

        var failures = hosts.Count(h => h.State == CampaignHostState.Failed);
        var next = S with { Hosts = [.. hosts], Failures = failures };
        if (CampaignPass.BudgetSpent(next, before.Failures))
        {
            next = next with { State = CampaignState.Paused, Note = $"paused itself: failure budget spent ({failures - next.FailuresAtResume} failed host(s), budget {next.Spec.FailureBudget}); resume to go on" };
            LogPaused(logger, Id, failures);
        }

        if (next.State == CampaignState.Running)
        {
            next = await StartHostsAsync(next);
        }

        next = CampaignPass.End(next, time.GetUtcNow()) ?? next;

        if (next with { Hosts = before.Hosts } != before || !next.Hosts.SequenceEqual(before.Hosts))
        {
            S = next;
            await SaveAsync();
        }

        if (S.IsEnded)
        {
            LogEnded(logger, Id, S.State, S.Note ?? "");
            await RunningOperations.UnlistAsync(GrainFactory, Operation, logger);
            await DisarmAsync();
        }

        return S;
    }

    public Task WakeAsync()
    {
        if (S is { IsEnded: false })
        {
            Loop.Wake();
        }

        return Task.CompletedTask;
    }

    private CampaignStatus Require() => S ?? throw OmigException.NotFound("campaign", $"campaign '{Id}' does not exist");

    private static void Validate(CampaignSpec spec)
    {
        if (!VersionNumber.IsValid(spec.FirmwareVersion))
        {
            throw OmigException.Invalid("firmware", $"'{spec.FirmwareVersion}' is not a version (digits and dots)");
        }

        if ((spec.SelectorKey is null) != (spec.SelectorValue is null))
        {
            throw OmigException.Invalid("select", "needs both a label key and a value (KEY=VALUE)");
        }

        if (spec.SelectorKey is { } key && (key.Length is 0 or > 63 || spec.SelectorValue!.Length > 253))
        {
            throw OmigException.Invalid("select", "label key 1-63 characters, value at most 253");
        }

        if (spec.Batch is < 1 or > 1000)
        {
            throw OmigException.Invalid("batch", $"must be between 1 and 1000, got {spec.Batch}");
        }

        if (spec.MaxParallelMigrations is < 1 or > 10_000)
        {
            throw OmigException.Invalid("max-parallel-migrations", $"must be between 1 and 10000, got {spec.MaxParallelMigrations}");
        }

        if (spec.FailureBudget is < 1 or > 10_000)
        {
            throw OmigException.Invalid("failure-budget", $"must be between 1 and 10000, got {spec.FailureBudget}");
        }

        if (string.IsNullOrWhiteSpace(spec.RequestedBy) || spec.RequestedBy.Length > 200)
        {
            throw OmigException.Invalid("requested-by", "must be 1-200 characters");
        }
    }

    private DriveLoop Loop => _loop ??= new DriveLoop(this, DriveReminder, PassInterval, DriveAsync);

    private Task ArmAsync() => Loop.ArmAsync();

    private Task DisarmAsync() => Loop.DisarmAsync();

    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "Campaign {CampaignId} started: firmware {Version} on {Hosts} host(s)")]
    private static partial void LogStarted(ILogger logger, string campaignId, string version, int hosts);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Warning, Message = "Campaign {CampaignId} paused itself after {Failures} failed host(s)")]
    private static partial void LogPaused(ILogger logger, string campaignId, int failures);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Information, Message = "Campaign {CampaignId} ended {State}: {Note}")]
    private static partial void LogEnded(ILogger logger, string campaignId, CampaignState state, string note);
}
