using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Grains.Operations;

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

    private readonly Dictionary<string, int> _noDestination = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (PreflightPrediction Prediction, DateTimeOffset At)> _predictions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _held = new(StringComparer.Ordinal);

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
