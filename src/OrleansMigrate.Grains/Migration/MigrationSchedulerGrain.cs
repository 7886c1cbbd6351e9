using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// One scheduler shard (<see cref="SchedulerShards"/>): the migrations of the source hosts that hash to it. Admission:
/// one migration per VM, destination choice, a visible queue in priority order, and the concurrency slots (per host and
/// per cluster, maintenance before user requests) taken from the admission ledger (<see cref="IAdmissionLedgerGrain"/>),
/// which counts across shards. Non-reentrant, so each decision sees the others' effects in this shard.
/// </summary>
[ControlPlanePlacement]
public sealed partial class MigrationSchedulerGrain(
    [PersistentState("scheduler", StorageNames.Fleet)] IPersistentState<MigrationSchedulerState> state,
    IOptions<MigrationPolicyOptions> policies,
    TimeProvider time,
    MigrationTelemetry telemetry,
    ILogger<MigrationSchedulerGrain> logger) : Grain, IMigrationSchedulerGrain
{
    /// <summary>Migration ids per history page. The scheduler's row, written on every submit, admission and end, holds at
    /// most one page beyond the full pages, each written once to its own <see cref="IMigrationHistoryPageGrain"/>
    /// (the row once held the last 2,000 ids: 5 % of a campaign's CPU went into writing them again and again).</summary>
    internal const int HistoryPage = 250;

    /// <summary>Full pages kept (a ring): with the page in the row, the last 2,000–2,250 ids are remembered for
    /// <c>omig migration list --all</c>, which shows the last 500.</summary>
    internal const int HistoryPagesKept = 8;
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(2);
    private DateTimeOffset _lastSweep = DateTimeOffset.MinValue;
    private IGrainTimer? _admission;

    /// <summary>Why the last admission pass left each queued migration queued, in its own words (not stored: the next pass,
    /// at most a sweep interval after an activation, says it again).</summary>
    private Dictionary<string, string> _queuedReasons = new(StringComparer.Ordinal);
    private bool _unsaved;
    private long _writes;

    /// <summary>This shard's number (from its key).</summary>
    private int _shard;

    /// <summary>An admitted migration left this shard and the admission ledger has not heard it yet (the next pass tells it;
    /// every activation starts by telling it what this shard holds).</summary>
    private bool _releasePending = true;

    private string ShardKey => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _shard = SchedulerShards.ShardOfKey(ShardKey);

        // A periodic pass, so a slot held by a migration whose end notification was lost frees even when nothing
        // else happens.
        this.RegisterGrainTimer(static async g =>
        {
            if (g._releaseRetries.Count > 0)
            {
                await g.RetryReleasesAsync();
            }

            if (!g.Open.IsEmpty || g._releasePending)
            {
                await g.AdmitAsync();
            }
        }, this, SweepInterval, SweepInterval);
        telemetry.Queued(ShardKey, Open.Values.Count(m => !m.Admitted));
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // The queue is reported by the silo holding the shard: this one no longer does.
        telemetry.Queued(ShardKey, 0);
        return Task.CompletedTask;
    }

    private ImmutableDictionary<string, ScheduledMigration> Open => state.State.Open;

    /// <summary>The state write, for the static timer callback (which cannot reach the constructor's parameter).</summary>
    private Task SaveAsync() => WriteAsync();

    /// <summary>
    /// The state write. A version conflict means the stored row moved on without this activation — typically its own
    /// earlier write landed although the database crashed before answering, leaving this activation's ETag stale, so
    /// every later write would fail the same way for as long as it lives. The stored state is taken as the truth
    /// (what this activation changed since is found again: callers retry, and the sweep re-checks every admitted
    /// migration), and the caller hears of the failure.
    /// </summary>
    private async Task WriteAsync()
    {
        try
        {
            if (ServiceProvider.GetService(typeof(Faults.IFaultInjector)) is Faults.IFaultInjector faults)
            {
                await faults.BeforeAsync(Faults.FaultSteps.SchedulerSave, IMigrationSchedulerGrain.Key);
            }

            await state.WriteStateAsync();
            _writes++;
            telemetry.Queued(ShardKey, state.State.Open.Values.Count(m => !m.Admitted));
        }
        catch (Orleans.Storage.InconsistentStateException)
        {
            try
            {
                await state.ReadStateAsync();
            }
            catch (Exception)
            {
                // The database is still away: the next write conflicts again and reads again.
            }

            throw;
        }
    }

    /// <summary>A request sent to this shard without its source host (a client from before sharding): submitted here when
    /// the VM's host is this shard's, else handed to that shard.</summary>
    public async Task<MigrationStatus> SubmitAsync(MigrationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        FleetValidation.RequireId("vm", request.VmId);
        var host = (await GrainFactory.GetGrain<IVmGrain>(request.VmId).GetAsync()
            ?? throw OmigException.NotFound("vm", $"VM '{request.VmId}' does not exist")).HostId;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            // This shard's host: submitted here, by a local call (through the grain reference it would wait for itself).
            // Another shard's: that shard decides; it answers where the VM went and never calls back.
            var outcome = SchedulerShards.OfHost(host) == _shard
                ? await SubmitFromAsync(request, host)
                : await SchedulerShards.Shard(GrainFactory, SchedulerShards.OfHost(host)).SubmitFromAsync(request, host);
            if (outcome.Status is { } status)
            {
                return status;
            }

            host = outcome.MovedTo!;
        }

        throw OmigException.Conflict("vm", $"VM '{request.VmId}' kept moving while its migration was submitted (now on '{host}'); submit again");
    }

    public async Task<SubmitOutcome> SubmitFromAsync(MigrationRequest request, string sourceHost)
    {
        ArgumentNullException.ThrowIfNull(request);
        FleetValidation.RequireId("vm", request.VmId);
        FleetValidation.RequireId("source", sourceHost);
        if (request.DestinationHost is not null)
        {
            FleetValidation.RequireId("to", request.DestinationHost);
        }

        if (!Enum.IsDefined(request.Mode) || !Enum.IsDefined(request.Priority))
        {
            throw OmigException.Invalid("mode", "unknown orchestration mode or priority");
        }

        if (request.Policy is not null && !policies.Value.Policies.ContainsKey(request.Policy))
        {
            throw OmigException.Invalid("policy", $"'{request.Policy}' is not a policy; known: {string.Join(", ", policies.Value.Policies.Keys.Order(StringComparer.Ordinal))}");
        }

        var vm = await GrainFactory.GetGrain<IVmGrain>(request.VmId).GetAsync()
            ?? throw OmigException.NotFound("vm", $"VM '{request.VmId}' does not exist");
        if (vm.HostId != sourceHost && SchedulerShards.OfHost(vm.HostId) != _shard)
        {
            // It moved to a host of another shard since the caller looked: nothing is stored; submit there.
            return new SubmitOutcome(null, vm.HostId);
        }

        // Without a named policy the VM's own (its label, else its class) applies, and is recorded on the request.
        var policy = request.Policy is null ? policies.Value.For(vm.Spec) : policies.Value.Resolve(request.Policy);
        request = request with { Policy = policy.Name };
        if (request.Cold)
        {
            if (DestinationSelector.NotColdMovable(vm, policy) is { } notCold)
            {
                throw new OmigException(notCold.Field == "policy" ? OmigErrorCode.Incompatible : OmigErrorCode.Conflict, notCold.Field == "policy" ? "cold" : notCold.Field,
                    $"VM '{vm.VmId}' cannot be moved cold: {notCold.Reason}");
            }
        }
        else if (DestinationSelector.NotLiveMovable(vm.Spec, policy) is { } unmovable)
        {
            throw new OmigException(OmigErrorCode.Incompatible, unmovable.Field, $"VM '{vm.VmId}' cannot be live-migrated: {unmovable.Reason}");
        }

        if (state.State.Open.Values.FirstOrDefault(m => m.Request.VmId == vm.VmId) is { } busy)
        {
            throw OmigException.Conflict("vm", $"VM '{vm.VmId}' is already being migrated by {busy.MigrationId}");
        }

        var id = SchedulerShards.NewMigrationId(_shard);
        var destination = await ChooseAndReserveAsync(vm, request.DestinationHost, policy, id);
        var entry = new ScheduledMigration(id, request, vm.HostId, destination, false, time.GetUtcNow(), OrleansMigrate.Fleet.Placement.Of(vm.Spec));
        try
        {
            await FlushHistoryAsync();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The ids stay in the row (a page longer for now); the next submit writes the page again.
            LogHistoryPageFailed(logger, state.State.HistoryPagesWritten, ex.GetBaseException().Message);
        }

        state.State.Open = state.State.Open.Add(id, entry);
        state.State.History = state.State.History.Add(id);

        // Persisted before the caller hears the id: by the admission pass when it admits (and so writes), else here.
        var writesBefore = _writes;
        try
        {
            if (!await AdmitAsync())
            {
                await WriteAsync();
            }
        }
        catch when (_writes == writesBefore)
        {
            // Nothing was stored and the caller hears a failure, so the migration must not run later behind its back (the
            // admission timer would admit and start the unsaved entry): it is forgotten, and the VM can be submitted again.
            state.State.Open = state.State.Open.Remove(id);
            state.State.History = state.State.History.Remove(id);
            _releasePending = true; // the ledger may have granted it a slot: the next pass (within 2 s) gives it back
            await ReleaseReservationAsync(entry);
            throw;
        }

        _unsaved = false;
        var stored = state.State.Open.TryGetValue(id, out var now) ? now : entry;
        try
        {
            return new SubmitOutcome(await StatusAsync(stored), null);
        }
        catch (Exception ex) when (ex is not OmigException { Code: OmigErrorCode.NotFound })
        {
            // Stored (and maybe started): the caller must hear its id even when the new migration's grain cannot answer
            // yet, or it would run unseen while the caller believes nothing was submitted.
            return new SubmitOutcome(QueuedStatus(stored), null);
        }
    }

    public Task<ImmutableArray<AdmissionSlot>> ListAdmittedAsync() =>
        Task.FromResult(state.State.Open.Values.Where(m => m.Admitted).Select(Slot).ToImmutableArray());

    private static AdmissionSlot Slot(ScheduledMigration m) => new(m.MigrationId, m.Request.VmId, m.SourceHost, m.DestinationHost, m.Request.Priority);

    /// <summary>Records a migration that will never start (its VM is gone) as ended in its own grain, so its id still
    /// answers with the reason instead of "does not exist". Best effort: a failure is logged.</summary>
    private async Task RecordNeverStartedAsync(ScheduledMigration entry, string reason)
    {
        await ReleaseReservationAsync(entry);
        try
        {
            await GrainFactory.GetGrain<IMigrationGrain>(entry.MigrationId).RecordCancelledQueuedAsync(entry.Request, entry.SourceHost, entry.DestinationHost,
                entry.SubmittedAt, $"did not start: {reason}");
        }
        catch (Exception ex)
        {
            LogRecordFailed(logger, entry.MigrationId, ex.GetBaseException().Message);
        }
    }

    public Task<ImmutableArray<PolicyInfo>> ListPoliciesAsync() =>
        Task.FromResult(policies.Value.Policies.Values.OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => p.Info()).ToImmutableArray());

    public async Task<ImmutableArray<MigrationStatus>> ListAsync(bool includeEnded)
    {
        var ids = includeEnded ? (await RecentIdsAsync(500)).ToList() : [.. state.State.Open.Keys];
        var statuses = await Task.WhenAll(ids.Select(async id =>
            state.State.Open.TryGetValue(id, out var open) ? await StatusAsync(open) : await GrainFactory.GetGrain<IMigrationGrain>(id).GetAsync()));
        return [.. statuses.OfType<MigrationStatus>().OrderBy(s => s.CreatedAt)];
    }

    public async Task<MigrationStatus?> FindOpenAsync(string migrationId) =>
        state.State.Open.TryGetValue(migrationId, out var open) ? await StatusAsync(open) : null;

    /// <summary>Frees the slot now and admits in a pass a moment later: ends arriving together (a campaign ends hundreds
    /// a second) share one state write and one admission pass. A crash before that write only leaves the entry for the
    /// sweep, which finds the migration ended.</summary>
    public Task EndedAsync(string migrationId)
    {
        if (state.State.Open.TryGetValue(migrationId, out var ended))
        {
            state.State.Open = state.State.Open.Remove(migrationId);
            _unsaved = true;
            _releasePending |= ended.Admitted;
        }

        _admission ??= this.RegisterGrainTimer(static async (MigrationSchedulerGrain g) =>
        {
            g._admission?.Dispose();
            g._admission = null;
            if (await g.AdmitAsync() == false && g._unsaved)
            {
                await g.SaveAsync();
            }

            g._unsaved = false;
        }, this, TimeSpan.FromMilliseconds(20), Timeout.InfiniteTimeSpan);
        return Task.CompletedTask;
    }

    public async Task<bool> CancelQueuedAsync(string migrationId, string reason)
    {
        if (state.State.Open.TryGetValue(migrationId, out var entry) && !entry.Admitted)
        {
            state.State.Open = state.State.Open.Remove(migrationId);
            await WriteAsync();

            // Stored as ended by its own grain, so the id still answers (rolled back, with the reason) and stays listed.
            var recorded = await GrainFactory.GetGrain<IMigrationGrain>(migrationId).RecordCancelledQueuedAsync(entry.Request, entry.SourceHost, entry.DestinationHost, entry.SubmittedAt,
                $"cancelled before it started: {reason}");

            // Its reservation goes back only when the migration never ran: a grain that had started after all (a lost
            // admission write) answers its own status, and its rollback or commit owns the reservation.
            if (recorded.Phase == MigrationPhase.RolledBack && recorded.Timeline.All(t => t.Phase is MigrationPhase.Queued or MigrationPhase.RolledBack))
            {
                await ReleaseReservationAsync(entry);
            }

            return true;
        }

        return false;
    }

    public Task<ImmutableArray<string>> OpenMigrationsOfVmAsync(string vmId) =>
        Task.FromResult<ImmutableArray<string>>([.. Open.Values.Where(m => m.Request.VmId == vmId).Select(m => m.MigrationId)]);

    private async Task<MigrationStatus> StatusAsync(ScheduledMigration entry)
    {
        if (entry.Admitted && await GrainFactory.GetGrain<IMigrationGrain>(entry.MigrationId).GetAsync() is { } status)
        {
            return status;
        }

        return QueuedStatus(entry);
    }

    private MigrationStatus QueuedStatus(ScheduledMigration entry) =>
        new(entry.MigrationId, entry.Request, entry.SourceHost, entry.DestinationHost, MigrationPhase.Queued,
            [new PhaseSpan(MigrationPhase.Queued, entry.SubmittedAt, null)], MigrationProgressInfo.None, null, null, entry.SubmittedAt, null, 0,
            QueuedReason: entry.Admitted ? "admitted; its start has not reached the migration yet"
                : _queuedReasons.GetValueOrDefault(entry.MigrationId) ?? "not yet looked at by an admission pass (the next runs within 2 s)");

    /// <summary>Moves the oldest full page of ids out of the row into its page grain (<see cref="MigrationHistory"/>).</summary>
    private async Task FlushHistoryAsync() =>
        (state.State.History, state.State.HistoryPagesWritten) = await MigrationHistory.FlushAsync(state.State.History, state.State.HistoryPagesWritten,
            (page, ids) => HistoryPageGrain(page).SetAsync(page, ids), HistoryPage);

    private Task<IEnumerable<string>> RecentIdsAsync(int count) =>
        MigrationHistory.RecentAsync(state.State.History, state.State.HistoryPagesWritten, page => HistoryPageGrain(page).GetAsync(page), count, HistoryPagesKept);

    /// <summary>Shard 0 keeps the pages of the scheduler before sharding; shard n's are its own.</summary>
    private IMigrationHistoryPageGrain HistoryPageGrain(long page) =>
        GrainFactory.GetGrain<IMigrationHistoryPageGrain>($"{ShardKey}-history/{page % HistoryPagesKept}");

    [LoggerMessage(EventId = 4011, Level = LogLevel.Warning, Message = "Scheduler: admitted migration {MigrationId} did not answer its sweep ({Error}); the next pass asks again")]
    private static partial void LogSweepFailed(ILogger logger, string migrationId, string error);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Warning, Message = "Scheduler: starting admitted migration {MigrationId} failed ({Error}); the next sweep starts it again")]
    private static partial void LogStartFailed(ILogger logger, string migrationId, string error);

    [LoggerMessage(EventId = 4015, Level = LogLevel.Warning, Message = "Scheduler: history page {Page} could not be written ({Error}); its ids stay in the scheduler's row and the next submit tries again")]
    private static partial void LogHistoryPageFailed(ILogger logger, long page, string error);

    [LoggerMessage(EventId = 4019, Level = LogLevel.Warning, Message = "Scheduler: the reservation of migration {MigrationId} on host {HostId}, which will not run, could not be given back ({Error}); tried again every 2 s")]
    private static partial void LogReleaseFailed(ILogger logger, string migrationId, string hostId, string error);

    [LoggerMessage(EventId = 4020, Level = LogLevel.Warning, Message = "Scheduler: host {HostId} did not answer the reservation for migration {MigrationId} ({Error}); the migration is stored and its prepare reserves again")]
    private static partial void LogReserveUnanswered(ILogger logger, string migrationId, string hostId, string error);

    [LoggerMessage(EventId = 4018, Level = LogLevel.Warning, Message = "Scheduler {Shard}: the admission ledger did not answer ({Error}); nothing is admitted until it does, the next pass asks again")]
    private static partial void LogLedgerFailed(ILogger logger, string shard, string error);

    [LoggerMessage(EventId = 4014, Level = LogLevel.Warning, Message = "Scheduler: migration {MigrationId} will never start (its VM is gone) and could not be recorded as ended ({Error}); its id answers \"does not exist\"")]
    private static partial void LogRecordFailed(ILogger logger, string migrationId, string error);
}
