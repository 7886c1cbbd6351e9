using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Hosting;
using OrleansMigrate.Placement;

namespace OrleansMigrate.Migration;

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
        if (DestinationSelector.NotLiveMovable(vm.Spec, policy) is { } unmovable)
        {
            throw new OmigException(OmigErrorCode.Incompatible, unmovable.Field, $"VM '{vm.VmId}' cannot be live-migrated: {unmovable.Reason}");
        }

        if (state.State.Open.Values.FirstOrDefault(m => m.Request.VmId == vm.VmId) is { } busy)
        {
            throw OmigException.Conflict("vm", $"VM '{vm.VmId}' is already being migrated by {busy.MigrationId}");
        }

        var id = SchedulerShards.NewMigrationId(_shard);
        var destination = await ChooseAndReserveAsync(vm, request.DestinationHost, policy, id);
        var entry = new ScheduledMigration(id, request, vm.HostId, destination, false, time.GetUtcNow(), new Fleet.Placement(vm.Spec.Vcpus, vm.Spec.MemoryMiB));
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

    /// <summary>Starts queued migrations in priority order while the limits allow, after sweeping admitted
    /// ones: an ended migration whose notification was lost frees its slot; one that never started is started again.</summary>
    /// <returns>Whether the pass wrote the state.</returns>
    private async Task<bool> AdmitAsync()
    {
        // The sweep asks every admitted migration for its status: at most every few seconds, not on every submit and
        // end (with hundreds in flight that would be hundreds of calls per event); notifications do the rest.
        var sweep = time.GetUtcNow() - _lastSweep >= SweepInterval;
        if (sweep)
        {
            _lastSweep = time.GetUtcNow();
        }

        foreach (var admitted in sweep ? state.State.Open.Values.Where(m => m.Admitted).ToList() : [])
        {
            try
            {
                var migration = GrainFactory.GetGrain<IMigrationGrain>(admitted.MigrationId);
                var status = await migration.GetAsync() ?? await migration.StartAsync(admitted.Request, admitted.SourceHost, admitted.DestinationHost);
                if (status.IsEnded)
                {
                    state.State.Open = state.State.Open.Remove(admitted.MigrationId);
                    _releasePending = true;
                    await WriteAsync();
                }
            }
            catch (OmigException ex) when (ex.Code == OmigErrorCode.NotFound)
            {
                // The VM is gone: the migration can never start. It is forgotten here and recorded as ended by its grain.
                state.State.Open = state.State.Open.Remove(admitted.MigrationId);
                _releasePending = true;
                await WriteAsync();
                await RecordNeverStartedAsync(admitted, ex.Message);
            }
            catch (Exception ex)
            {
                // Unreachable right now (a silo down, or the database: its failure reaches here as OmigException
                // Unavailable, which must never be taken for "gone"); the next admission pass looks again.
                LogSweepFailed(logger, admitted.MigrationId, ex.GetBaseException().Message);
            }
        }

        // The slots come from the admission ledger, which counts every shard's; with this shard's holdings on every
        // request, so a release it missed heals here.
        var held = state.State.Open.Values.Where(m => m.Admitted).Select(Slot).ToImmutableArray();
        var queued = state.State.Open.Values.Where(m => !m.Admitted).OrderBy(m => m.Request.Priority).ThenBy(m => m.SubmittedAt).ToList();
        if (queued.Count == 0 && !_releasePending)
        {
            _queuedReasons = [];
            return false;
        }

        AdmissionDecision decision;
        try
        {
            decision = await GrainFactory.GetGrain<IAdmissionLedgerGrain>(IAdmissionLedgerGrain.Key).TryAdmitAsync(_shard, held, [.. queued.Select(Slot)]);
            _releasePending = false;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Nothing is admitted without the ledger; the next pass (at most a sweep interval away) asks again.
            var why = $"waiting for the admission ledger ({ex.GetBaseException().Message})";
            _queuedReasons = queued.ToDictionary(q => q.MigrationId, _ => why, StringComparer.Ordinal);
            LogLedgerFailed(logger, ShardKey, ex.GetBaseException().Message);
            return false;
        }

        var granted = decision.Granted.ToHashSet(StringComparer.Ordinal);
        var toStart = new List<ScheduledMigration>();
        foreach (var next in queued.Where(q => granted.Contains(q.MigrationId)))
        {
            var admitted = next with { Admitted = true };
            state.State.Open = state.State.Open.SetItem(next.MigrationId, admitted);
            toStart.Add(admitted);
        }

        _queuedReasons = new Dictionary<string, string>(decision.Refused, StringComparer.Ordinal);
        if (toStart.Count == 0)
        {
            return false;
        }

        // Admissions are persisted once, then every admitted migration starts at once (a start is idempotent: a crash
        // between the two re-starts them from the stored state).
        await WriteAsync();
        var gone = await Task.WhenAll(toStart.Select(async m =>
        {
            try
            {
                await GrainFactory.GetGrain<IMigrationGrain>(m.MigrationId).StartAsync(m.Request, m.SourceHost, m.DestinationHost);
                return null;
            }
            catch (OmigException ex) when (ex.Code == OmigErrorCode.NotFound)
            {
                // The VM vanished between submit and admission: nothing started, nothing to hold. (Any other failure —
                // the database restarting answers Unavailable — may be transient: the sweep retries it.)
                await RecordNeverStartedAsync(m, ex.Message);
                return m.MigrationId;
            }
            catch (Exception ex)
            {
                // The start may or may not have landed; the sweep of the next pass finds out and retries.
                LogStartFailed(logger, m.MigrationId, ex.GetBaseException().Message);
                return null;
            }
        }));
        if (gone.OfType<string>().ToList() is { Count: > 0 } removed)
        {
            state.State.Open = state.State.Open.RemoveRange(removed);
            _releasePending = true;
            await WriteAsync();
        }

        return true;
    }

    /// <summary>
    /// The destination, with the VM's room reserved on it under the migration's id before anything is stored: the host's
    /// capacity ledger owns the reservation from the submit on (a migration's prepare reserves again under the same id,
    /// which is a no-op), so two shards cannot both promise a host's last cores. A chosen host that refuses (another
    /// shard took the room since this one read it) is passed over, twice at most; a named one refuses the request.
    /// A crash between this reservation and the state write leaves the reservation without a migration: the host gives
    /// it back after 10 s (<c>HostGrain</c>'s orphan check).
    /// </summary>
    private async Task<string> ChooseAndReserveAsync(VmRecord vm, string? requested, MigrationPolicy policy, string migrationId)
    {
        var refused = new HashSet<string>(StringComparer.Ordinal);
        for (var attempt = 0; ; attempt++)
        {
            var destination = await ChooseDestinationAsync(vm, requested, policy, refused);
            try
            {
                await GrainFactory.GetGrain<IHostGrain>(destination).ReserveAsync(migrationId, vm.Spec);
                return destination;
            }
            catch (OmigException ex) when (ex.Code is OmigErrorCode.InsufficientCapacity or OmigErrorCode.Conflict or OmigErrorCode.Incompatible)
            {
                if (requested is not null || attempt >= 2)
                {
                    throw new OmigException(ex.Code, "to", $"host '{destination}' cannot take VM '{vm.VmId}': {ex.Reason}");
                }

                refused.Add(destination);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // No answer (a timeout, the host's silo died, the database away): the reservation may or may not have
                // landed. The migration is stored anyway and owns it: its prepare reserves again under the same id (a
                // no-op if it landed, a capacity check if not) and its commit or rollback gives it back. Giving it back
                // here instead could fail the same way and leave it held by nothing.
                LogReserveUnanswered(logger, migrationId, destination, ex.GetBaseException().Message);
                return destination;
            }
        }
    }

    /// <summary>Gives back the reservation a migration that will not run took at its submit (best effort: the audit
    /// reports one left behind).</summary>
    private async Task ReleaseReservationAsync(ScheduledMigration entry)
    {
        try
        {
            await GrainFactory.GetGrain<IHostGrain>(entry.DestinationHost).ReleaseAsync(entry.MigrationId);
            _releaseRetries.Remove(entry.MigrationId);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Tried again at every pass (a host grain whose silo just died answers once it is activated elsewhere).
            if (_releaseRetries.TryAdd(entry.MigrationId, entry))
            {
                LogReleaseFailed(logger, entry.MigrationId, entry.DestinationHost, ex.GetBaseException().Message);
            }
        }
    }

    /// <summary>Reservations of migrations that will not run whose release failed: retried by the periodic pass while
    /// this activation lives (a crash forgets them; the audit reports one left behind).</summary>
    private readonly Dictionary<string, ScheduledMigration> _releaseRetries = new(StringComparer.Ordinal);

    private async Task RetryReleasesAsync()
    {
        foreach (var entry in _releaseRetries.Values.ToList())
        {
            await ReleaseReservationAsync(entry);
        }
    }

    private async Task<string> ChooseDestinationAsync(VmRecord vm, string? requested, MigrationPolicy policy, IReadOnlySet<string> passedOver)
    {
        if (requested is not null)
        {
            // A named destination needs only the two hosts and the VMs on the destination (anti-affinity), never
            // the whole fleet: drains and campaigns submit thousands of these.
            var sourceHost = await GrainFactory.GetGrain<IHostGrain>(vm.HostId).GetAsync()
                ?? throw OmigException.NotFound("vm", $"the host of VM '{vm.VmId}' ('{vm.HostId}') is not registered");
            var targetHost = await GrainFactory.GetGrain<IHostGrain>(requested).GetAsync()
                ?? throw OmigException.NotFound("to", $"host '{requested}' is not registered");
            IReadOnlyCollection<VmRecord> peers = vm.Spec.Labels.ContainsKey(DestinationSelector.AntiAffinityLabel)
                ? [.. (await Task.WhenAll(targetHost.Vms.Keys.Select(id => GrainFactory.GetGrain<IVmGrain>(id).GetAsync()))).OfType<VmRecord>()]
                : [];
            if (DestinationSelector.Refusal(vm, sourceHost, targetHost, peers, policy) is { } refused)
            {
                throw new OmigException(OmigErrorCode.Incompatible, "to", $"host '{requested}' cannot take VM '{vm.VmId}': {refused}");
            }

            return requested;
        }

        var fleet = GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key);
        var hosts = (await fleet.ListHostsAsync()).Where(h => !passedOver.Contains(h.HostId)).ToList();
        var source = hosts.FirstOrDefault(h => h.HostId == vm.HostId)
            ?? throw OmigException.NotFound("vm", $"the host of VM '{vm.VmId}' ('{vm.HostId}') is not registered");
        var vms = await fleet.ListVmsAsync();
        var byHost = vms.GroupBy(v => v.HostId).ToDictionary(g => g.Key, g => (IReadOnlyCollection<VmRecord>)g.ToList());
        IReadOnlyCollection<VmRecord> On(string hostId) => byHost.TryGetValue(hostId, out var list) ? list : [];

        var (best, refusals) = DestinationSelector.Choose(vm, source, hosts, On, policy);
        return best?.HostId ?? throw new OmigException(OmigErrorCode.InsufficientCapacity, "to",
            $"no host can take VM '{vm.VmId}': " + string.Join("; ", refusals.Select(r => $"{r.Key}: {r.Value}")));
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
