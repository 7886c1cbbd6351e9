using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Hosting;
using OrleansMigrate.Migration;
using OrleansMigrate.Placement;

namespace OrleansMigrate.Operations;

/// <summary>Persisted state of <see cref="HostDrainGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.HostDrainGrainState")]
public sealed class HostDrainGrainState
{
    [Id(0)] public DrainStatus? Status { get; set; }

    /// <summary>Earlier drains of the host, newest first (at most <see cref="HostDrainGrain.HistoryLength"/>).</summary>
    [Id(1)] public List<DrainStatus> History { get; set; } = [];
}

/// <summary>
/// Drains one host: cordons it (state <c>draining</c>), then in passes (a timer every 200 ms while active, a
/// reminder every minute so a control-silo restart resumes it) submits maintenance-priority migrations of its VMs,
/// at most <see cref="DrainOptions.MaxParallel"/> at a time, to the best allowed destination (preferring hosts on
/// <see cref="DrainOptions.PreferFirmware"/>), retries rollbacks, and ends when no VM is pending or migrating.
/// </summary>
[ControlPlanePlacement]
public sealed partial class HostDrainGrain(
    [PersistentState("drain", StorageNames.Fleet)] IPersistentState<HostDrainGrainState> state,
    IOptions<MigrationPolicyOptions> policies,
    FleetViewCache fleetView,
    IOwnerNotifier owners,
    TimeProvider time,
    ILogger<HostDrainGrain> logger) : Grain, IHostDrainGrain, IRemindable
{
    private const string DriveReminder = "drain-drive";

    /// <summary>Ended drains kept per host, so a new drain never erases the record of an earlier one's moves.</summary>
    public const int HistoryLength = 20;

    /// <summary>Destinations tried for one VM in one pass when the scheduler refuses the chosen one.</summary>
    private const int MaxSubmitTries = 3;

    /// <summary>Destinations a pass reads beyond one per submit try: hosts the anti-affinity rule or an incompatible CPU
    /// refuses are skipped without reading the rest of the ranking.</summary>
    private const int CandidateMargin = 16;

    private readonly Dictionary<string, int> _noDestination = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (PreflightPrediction Prediction, DateTimeOffset At)> _predictions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _held = new(StringComparer.Ordinal);

    /// <summary>How long a VM is sampled before it moves, and for how long a prediction stands.</summary>
    private static readonly TimeSpan PreflightSample = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan PreflightFresh = TimeSpan.FromSeconds(10);

    /// <summary>How often the drain looks at its migrations and starts more: a slot freed waits at most this long.</summary>
    private static readonly TimeSpan PassInterval = TimeSpan.FromMilliseconds(200);

    private DriveLoop? _loop;

    private string HostId => this.GetPrimaryKeyString();

    private DrainStatus? S
    {
        get => state.State.Status;
        set => state.State.Status = value;
    }

    private FleetOperationRef Operation => new(FleetOperationKind.Drain, HostId);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S is { IsEnded: false })
        {
            await RunningOperations.RelistAsync(GrainFactory, Operation, logger);
            await ArmAsync();
        }
    }

    public async Task<DrainStatus> StartAsync(DrainOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxParallel is < 1 or > 64)
        {
            throw OmigException.Invalid("max-parallel", $"must be between 1 and 64, got {options.MaxParallel}");
        }

        if (options.MaxAttemptsPerVm is < 1 or > 20)
        {
            throw OmigException.Invalid("max-attempts", $"must be between 1 and 20, got {options.MaxAttemptsPerVm}");
        }

        if (options.Policy is not null && !policies.Value.Policies.ContainsKey(options.Policy))
        {
            throw OmigException.Invalid("policy", $"'{options.Policy}' is not a policy; known: {string.Join(", ", policies.Value.Policies.Keys.Order(StringComparer.Ordinal))}");
        }

        if (options.PreferFirmware is not null && !VersionNumber.IsValid(options.PreferFirmware))
        {
            throw OmigException.Invalid("prefer-firmware", $"'{options.PreferFirmware}' is not a version (digits and dots)");
        }

        // A second drain of a host being drained joins it (its options stay those of the first).
        if (S is { IsEnded: false } running)
        {
            return running;
        }

        var host = GrainFactory.GetGrain<IHostGrain>(HostId);
        _ = await host.GetAsync() ?? throw OmigException.NotFound("host", $"host '{HostId}' is not registered");
        await RunningOperations.ListAsync(GrainFactory, Operation); // before the host is cordoned: a failure leaves it as it was
        await host.SetSchedulingAsync(SchedulingState.Draining);
        if (S is not null)
        {
            state.State.History.Insert(0, S);
            if (state.State.History.Count > HistoryLength)
            {
                state.State.History.RemoveRange(HistoryLength, state.State.History.Count - HistoryLength);
            }
        }

        // Migrations already moving VMs off this host (an operator's, a plan's) are this drain's too: it waits for them
        // and records their outcome, instead of ending "completed, 0 moved" while they still run.
        var inFlight = (await new SchedulerRouter(GrainFactory).ListOpenFromAsync(HostId))
            .Where(m => !m.IsEnded)
            .GroupBy(m => m.Request.VmId, StringComparer.Ordinal)
            .Select(g => g.First())
            .Select(m => new DrainVm(m.Request.VmId, DrainVmState.Migrating, m.MigrationId, m.DestinationHost, Attempts: 1,
                Reason: $"already migrating when the drain started ({m.Request.RequestedBy})"))
            .OrderBy(v => v.VmId, StringComparer.Ordinal)
            .ToImmutableArray();
        S = new DrainStatus(HostId, DrainState.Running, options, inFlight, time.GetUtcNow(), null, null);
        _noDestination.Clear();
        await state.WriteStateAsync();
        LogStarted(logger, HostId, options.MaxParallel);
        await ArmAsync();
        return await DriveAsync() ?? S;
    }

    public Task<DrainStatus?> GetAsync() => Task.FromResult(S);

    public Task UnlistIfEndedAsync() =>
        S is { IsEnded: false } ? Task.CompletedTask : RunningOperations.UnlistAsync(GrainFactory, Operation, logger);

    public Task<ImmutableArray<DrainStatus>> GetHistoryAsync() => Task.FromResult(state.State.History.ToImmutableArray());

    public async Task<DrainStatus> AbortAsync(string reason)
    {
        if (S is null)
        {
            throw OmigException.NotFound("drain", $"host '{HostId}' has no drain");
        }

        if (S.IsEnded)
        {
            return S;
        }

        S = S with { State = DrainState.Aborting, Note = $"aborted: {reason}" };
        await state.WriteStateAsync();
        return await DriveAsync() ?? S;
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => Loop.OnReminderAsync(S is { IsEnded: false });

    public async Task<DrainStatus?> DriveAsync()
    {
        if (S is null || S.IsEnded)
        {
            return S;
        }

        await PassAsync();
        if (S.IsEnded)
        {
            await DisarmAsync();
        }

        return S;
    }

    private async Task PassAsync()
    {
        var s = S!;
        var hostGrain = GrainFactory.GetGrain<IHostGrain>(HostId);
        var host = await hostGrain.GetAsync();
        var vms = s.Vms.ToDictionary(v => v.VmId, StringComparer.Ordinal);
        if (host is not null && s.State == DrainState.Running)
        {
            foreach (var vmId in host.Vms.Keys.Where(id => !vms.ContainsKey(id)))
            {
                vms[vmId] = new DrainVm(vmId, DrainVmState.Pending);
            }
        }

        // Migrations in flight: done, or retried, or (aborting) cancelled while still queued.
        var scheduler = new SchedulerRouter(GrainFactory);
        var (rolledBack, failedMigrations) = (s.MigrationsRolledBack, s.MigrationsFailed);
        foreach (var vm in vms.Values.Where(v => v.State == DrainVmState.Migrating).ToList())
        {
            var migration = await GrainFactory.GetGrain<IMigrationGrain>(vm.MigrationId!).GetAsync();
            if (migration is null)
            {
                if (s.State == DrainState.Aborting && await scheduler.CancelQueuedAsync(vm.MigrationId!, "the drain was aborted"))
                {
                    vms[vm.VmId] = vm with { State = DrainVmState.Skipped, Reason = "drain aborted before its migration started" };
                }
                else if (await scheduler.FindOpenAsync(vm.MigrationId!) is null && await GrainFactory.GetGrain<IMigrationGrain>(vm.MigrationId!).GetAsync() is null)
                {
                    // Neither queued nor started: the scheduler dropped it (its VM was gone when its turn came).
                    // Pending again; the next pass sees whether the VM still exists here.
                    vms[vm.VmId] = DrainPass.Dropped(vm);
                }

                continue;
            }

            if (!migration.IsEnded)
            {
                continue;
            }

            if (migration.Phase == MigrationPhase.RolledBack)
            {
                rolledBack++;
            }
            else if (migration.Phase == MigrationPhase.Failed)
            {
                failedMigrations++;
            }

            vms[vm.VmId] = DrainPass.AfterMigration(vm, migration.Phase, migration.Failure, s.State == DrainState.Aborting, s.Options.MaxAttemptsPerVm);
        }

        if (s.State == DrainState.Aborting)
        {
            foreach (var vm in vms.Values.Where(v => v.State == DrainVmState.Pending).ToList())
            {
                vms[vm.VmId] = vm with { State = DrainVmState.Skipped, Reason = "drain aborted" };
            }
        }
        else
        {
            await SubmitAsync(vms, host);
        }

        var list = vms.Values.OrderBy(v => v.VmId, StringComparer.Ordinal).ToImmutableArray();
        var next = s with { Vms = list, MigrationsRolledBack = rolledBack, MigrationsFailed = failedMigrations };
        if (DrainPass.Outcome(list, s.State, s.Note) is var (final, note))
        {
            next = next with { State = final, EndedAt = time.GetUtcNow(), Note = note };
            if (final == DrainState.Completed && host is not null)
            {
                await hostGrain.SetSchedulingAsync(SchedulingState.Maintenance);
            }
            else if (host is not null)
            {
                await hostGrain.SetSchedulingAsync(SchedulingState.Cordoned);
            }

            LogEnded(logger, HostId, final, next.Note ?? "");
            if (s.Options.Campaign is { } campaign)
            {
                await GrainFactory.GetGrain<ICampaignGrain>(campaign).WakeAsync();
            }
        }

        if (next != s)
        {
            S = next;
            await state.WriteStateAsync();
            if (next.IsEnded)
            {
                await RunningOperations.UnlistAsync(GrainFactory, Operation, logger);
            }
        }
    }

    /// <summary>Submits pending VMs while fewer than MaxParallel of this drain's migrations are in flight.</summary>
    private async Task SubmitAsync(Dictionary<string, DrainVm> vms, HostRecord? source)
    {
        var options = S!.Options;
        var slots = options.MaxParallel - vms.Values.Count(v => v.State == DrainVmState.Migrating);
        var pending = vms.Values.Where(v => v.State == DrainVmState.Pending).ToList();
        if (slots <= 0 || pending.Count == 0)
        {
            return;
        }

        if (source is null)
        {
            foreach (var vm in pending)
            {
                vms[vm.VmId] = vm with { State = DrainVmState.Unmovable, Reason = $"host '{HostId}' is no longer registered" };
            }

            return;
        }

        // Hosts from the silo's short-lived cache, ranked once per snapshot for every drain that reads it; this pass reads
        // the first few of them (enough for every VM it may submit) and keeps them in order as it places VMs. The VM
        // records of the pending VMs only (never the whole fleet).
        var view = await fleetView.ViewAsync(TimeSpan.FromSeconds(1));
        var ranked = new DrainCandidates(view.RankedFor(options.PreferFirmware).Walk(HostId), options.PreferFirmware,
            take: (slots * MaxSubmitTries) + CandidateMargin);
        var records = (await Task.WhenAll(pending.Select(v => GrainFactory.GetGrain<IVmGrain>(v.VmId).GetAsync())))
            .OfType<VmRecord>().ToDictionary(v => v.VmId, StringComparer.Ordinal);
        var scheduler = new SchedulerRouter(GrainFactory);

        if (options.Preflight)
        {
            await PredictAsync(pending.Where(v => records.TryGetValue(v.VmId, out var r) && r.HostId == HostId).Select(v => records[v.VmId]).ToList(), options);
        }

        foreach (var vm in DrainPass.SubmitOrder(pending, id => _predictions.TryGetValue(id, out var p) ? p.Prediction.TotalMs : null,
                     id => records.TryGetValue(id, out var r) ? r.Spec.MemoryMiB : 0))
        {
            if (slots == 0)
            {
                break;
            }

            if (DrainPass.Gone(vm, records.GetValueOrDefault(vm.VmId), HostId) is { } gone)
            {
                vms[vm.VmId] = gone;
                continue;
            }

            var record = records[vm.VmId];
            var policy = PolicyFor(record, options);
            var unmeetable = options.Preflight && _predictions.TryGetValue(vm.VmId, out var predicted) ? DrainPass.Unmeetable(policy, predicted.Prediction) : null;
            var (stays, heldForTarget) = DrainPass.Hold(vm, record, policy, unmeetable, _held.GetValueOrDefault(vm.VmId), time.GetUtcNow());
            if (heldForTarget)
            {
                _held[vm.VmId] = _held.GetValueOrDefault(vm.VmId) + 1;
            }

            if (stays is not null)
            {
                vms[vm.VmId] = stays;
                continue;
            }

            // A destination that refuses at submit (its ledger holds the reservations of migrations already headed there,
            // which this silo's cached view may not show yet) is dropped for the rest of the pass and the next one is tried.
            for (var tries = 0; tries < MaxSubmitTries; tries++)
            {
                var (destination, refusals) = await ChooseAsync(record, source, ranked, policy);
                if (destination is null)
                {
                    var passes = _noDestination[vm.VmId] = _noDestination.GetValueOrDefault(vm.VmId) + 1;
                    vms[vm.VmId] = DrainPass.NoDestination(vms[vm.VmId], passes, refusals);
                    break;
                }

                _noDestination.Remove(vm.VmId);
                if (policy.NotifyOwner && !vms[vm.VmId].OwnerNotified)
                {
                    // The owner hears before the VM moves; a notice that cannot be delivered holds it back.
                    try
                    {
                        await owners.NotifyAsync(new OwnerNotice(vm.VmId, OwnerNotifier.OwnerOf(record.Spec), $"drain of {HostId} ({options.RequestedBy})", policy.Name, time.GetUtcNow()), CancellationToken.None);
                        vms[vm.VmId] = vms[vm.VmId] with { OwnerNotified = true };
                    }
                    catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
                    {
                        vms[vm.VmId] = vms[vm.VmId] with { Reason = $"held back: the owner notice failed ({ex.Message})" };
                        break;
                    }
                }

                try
                {
                    var status = await scheduler.SubmitAsync(new MigrationRequest(vm.VmId, destination.HostId, policy.Name, OrchestrationMode.Parallel, MigrationPriority.Maintenance, options.RequestedBy, Drain: HostId), HostId);
                    vms[vm.VmId] = vms[vm.VmId] with { State = DrainVmState.Migrating, MigrationId = status.MigrationId, Destination = destination.HostId, Attempts = vm.Attempts + 1, Reason = null };
                    slots--;

                    // Count it on the destination for the rest of this pass, so the next VM sees the capacity taken.
                    ranked.Replace(destination, destination with
                    {
                        Reservations = destination.Reservations.SetItem("drain:" + vm.VmId, new Fleet.Placement(record.Spec.Vcpus, record.Spec.MemoryMiB)),
                    });
                    break;
                }
                catch (OmigException ex) when (ex.Code is OmigErrorCode.Incompatible or OmigErrorCode.InsufficientCapacity && ex.Field == "to")
                {
                    ranked.Remove(destination);
                    vms[vm.VmId] = vms[vm.VmId] with { Reason = ex.Message };
                }
                catch (OmigException ex) when (ex.Code is OmigErrorCode.Conflict or OmigErrorCode.Incompatible or OmigErrorCode.InsufficientCapacity or OmigErrorCode.NotFound)
                {
                    // Already migrating (someone else's migration), or the fleet changed since this pass read it: next pass.
                    vms[vm.VmId] = vms[vm.VmId] with { Reason = ex.Message };
                    break;
                }
            }
        }
    }

    /// <summary>Samples the VMs without a fresh prediction, a few at a time, on their (this) host; a VM the host cannot
    /// sample simply goes without one.</summary>
    private async Task PredictAsync(List<VmRecord> candidates, DrainOptions options)
    {
        var now = time.GetUtcNow();
        // A few per pass (twice the parallel limit): a QEMU host samples one VM at a time, for a second each.
        var stale = candidates.Where(v => !_predictions.TryGetValue(v.VmId, out var p) || now - p.At > PreflightFresh).Take(Math.Max(2, options.MaxParallel * 2)).ToList();
        if (stale.Count == 0)
        {
            return;
        }

        var agent = GrainFactory.GetGrain<IHostAgentGrain>(HostId);
        var results = await Task.WhenAll(stale.Select(async vm =>
        {
            try
            {
                var tuning = PolicyFor(vm, options).Tuning((int)Math.Min(vm.Spec.MemoryMiB, int.MaxValue));
                return (vm.VmId, Prediction: await agent.PredictAsync(vm.VmId, tuning, (int)PreflightSample.TotalMilliseconds));
            }
            catch (Exception ex) when (ex is OmigException or TimeoutException or SiloUnavailableException or OrleansMessageRejectionException)
            {
                return (vm.VmId, Prediction: (PreflightPrediction?)null);
            }
        }));
        foreach (var (vmId, prediction) in results)
        {
            if (prediction is not null)
            {
                _predictions[vmId] = (prediction, now);
            }
        }
    }

    private MigrationPolicy PolicyFor(VmRecord vm, DrainOptions options) =>
        options.Policy is { } named ? policies.Value.Resolve(named) : policies.Value.For(vm.Spec);

    /// <summary>The first allowed destination in <paramref name="ranked"/> (see <see cref="RankedHosts.Compare"/>), so a drain
    /// in a fleet of thousands evaluates a few hosts per VM; every refusal is collected only when no host can take the
    /// VM. The anti-affinity rule reads the VMs on a candidate only for a VM that has a group.</summary>
    private async Task<(HostRecord? Host, SortedDictionary<string, string> Refusals)> ChooseAsync(VmRecord vm, HostRecord source, DrainCandidates ranked,
        MigrationPolicy policy)
    {
        var (host, refusals) = await ChooseAsync(vm, source, ranked.Hosts, policy);
        if (host is null && ranked.HasMore)
        {
            // None of the first hosts can take it: the rest of the ranking, once, for this VM and the rest of the pass.
            ranked.TakeAll();
            (host, refusals) = await ChooseAsync(vm, source, ranked.Hosts, policy);
        }

        return (host, refusals);
    }

    private async Task<(HostRecord? Host, SortedDictionary<string, string> Refusals)> ChooseAsync(VmRecord vm, HostRecord source, List<HostRecord> ranked,
        MigrationPolicy policy)
    {
        var refusals = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var grouped = vm.Spec.Labels.ContainsKey(DestinationSelector.AntiAffinityLabel);
        foreach (var host in ranked)
        {
            if (DestinationSelector.Refusal(vm, source, host, [], policy) is { } why)
            {
                refusals[host.HostId] = why;
                continue;
            }

            if (grouped)
            {
                var peers = (await Task.WhenAll(host.Vms.Keys.Select(id => GrainFactory.GetGrain<IVmGrain>(id).GetAsync()))).OfType<VmRecord>().ToList();
                if (DestinationSelector.Refusal(vm, source, host, peers, policy) is { } peerWhy)
                {
                    refusals[host.HostId] = peerWhy;
                    continue;
                }
            }

            return (host, refusals);
        }

        return (null, refusals);
    }

    public Task WakeAsync()
    {
        if (S is { IsEnded: false })
        {
            Loop.Wake();
        }

        return Task.CompletedTask;
    }

    private DriveLoop Loop => _loop ??= new DriveLoop(this, DriveReminder, PassInterval, DriveAsync);

    private Task ArmAsync() => Loop.ArmAsync();

    private Task DisarmAsync() => Loop.DisarmAsync();

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Drain of {HostId} started ({MaxParallel} in parallel)")]
    private static partial void LogStarted(ILogger logger, string hostId, int maxParallel);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Drain of {HostId} ended {State}: {Note}")]
    private static partial void LogEnded(ILogger logger, string hostId, DrainState state, string note);
}
