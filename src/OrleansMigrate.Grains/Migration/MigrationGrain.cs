using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Errors;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// One live migration. The run loop drives the phases in the background; the state is persisted at every
/// phase transition (never inside the downtime) and a reminder re-drives the loop if this grain's silo
/// dies. Every component action is idempotent and keyed by the migration id, so a replay is harmless.
/// </summary>
[ControlPlanePlacement]
public sealed partial class MigrationGrain(
    [PersistentState("migration", StorageNames.Fleet)] IPersistentState<MigrationGrainState> state,
    MigrationTelemetry telemetry,
    Microsoft.Extensions.Options.IOptions<MigrationPolicyOptions> policies,
    Microsoft.Extensions.Options.IOptions<AgentWaitOptions> agentWait,
    TimeProvider time,
    ILogger<MigrationGrain> logger) : Grain, IMigrationGrain, IRemindable
{
    private const string DriveReminder = "drive";
    private const int MaxDriveAttempts = 20;
    private static readonly TimeSpan FirstRedrive = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan MaxRedrive = TimeSpan.FromSeconds(5);
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task? _run;
    private Activity? _trace;
    private bool _deactivating;
    private bool _stale;

    private string Id => this.GetPrimaryKeyString();

    private MigrationGrainState S => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Request is not null && !MigrationPhases.IsEnded(S.Phase))
        {
            LogRecovered(logger, Id, S.Phase);
            telemetry.Track(Id, S.Vm!.VmId, S.Phase, S.Progress);
            try
            {
                await this.RegisterOrUpdateReminder(DriveReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
            }
            catch (Exception ex)
            {
                // The reminder is only the backstop (the scheduler's sweep re-activates an open migration every few
                // seconds): an activation that could not register it still runs, rather than failing every call.
                LogReminderNotRegistered(logger, Id, ex.GetBaseException().Message);
            }

            EnsureRunning();
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // A wait for an agent stops at its next poll instead of running on beside the next activation.
        _deactivating = true;
        _stopping.Cancel();
        telemetry.Untrack(Id);
        return Task.CompletedTask;
    }

    public async Task<MigrationStatus> StartAsync(MigrationRequest request, string sourceHost, string destinationHost)
    {
        if (!await ReloadIfStaleAsync())
        {
            throw new OrleansException($"migration {Id}: its stored state could not be read back after a version conflict; the scheduler tries again");
        }

        if (S.Request is not null)
        {
            if (!MigrationPhases.IsEnded(S.Phase))
            {
                EnsureRunning();
                await this.RegisterOrUpdateReminder(DriveReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
            }

            return Status();
        }

        var vm = await GrainFactory.GetGrain<OrleansMigrate.Fleet.IVmGrain>(request.VmId).GetAsync()
            ?? throw OmigException.NotFound("vm", $"VM '{request.VmId}' does not exist");
        S.Request = request;
        S.Vm = vm.Spec;
        S.SourceHost = sourceHost;
        S.DestinationHost = destinationHost;
        S.CreatedAt = time.GetUtcNow();
        S.Phase = MigrationPhase.Prepare;
        S.Timeline = [new PhaseSpan(MigrationPhase.Prepare, S.CreatedAt, null)];
        try
        {
            await this.RegisterOrUpdateReminder(DriveReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
            await Fault(Faults.FaultSteps.MigrationSaveStart);
            await SaveAsync();
        }
        catch
        {
            // Not stored, so not started: this activation must not answer as if it were (a status in Prepare that no
            // loop drives, which the scheduler's sweep would take for a running migration). The scheduler starts it again.
            state.State = new MigrationGrainState();
            throw;
        }

        telemetry.Started();
        telemetry.Track(Id, vm.Spec.VmId, S.Phase, S.Progress);
        EnsureRunning();
        return Status();
    }

    public async Task<MigrationStatus> RecordCancelledQueuedAsync(MigrationRequest request, string sourceHost, string destinationHost, DateTimeOffset submittedAt, string reason)
    {
        if (S.Request is not null)
        {
            return Status();
        }

        var now = time.GetUtcNow();
        S.Request = request;
        S.SourceHost = sourceHost;
        S.DestinationHost = destinationHost;
        S.CreatedAt = submittedAt;
        S.Phase = MigrationPhase.RolledBack;
        S.Timeline = [new PhaseSpan(MigrationPhase.RolledBack, now, now)];
        S.Failure = reason;
        S.TotalMs = Math.Max(0, (now - submittedAt).TotalMilliseconds);
        try
        {
            await SaveAsync();
        }
        catch
        {
            state.State = new MigrationGrainState();
            throw;
        }

        return Status();
    }

    public Task<MigrationStatus?> GetAsync() => Task.FromResult(S.Request is null ? null : Status());

    public async Task<MigrationStatus> CancelAsync(string reason)
    {
        if (S.Request is null)
        {
            throw OmigException.NotFound("migration", $"migration '{Id}' does not exist");
        }

        if (!MigrationPhases.IsEnded(S.Phase) && S.CancelReason is null)
        {
            S.CancelReason = string.IsNullOrWhiteSpace(reason) ? "cancelled by operator" : reason[..Math.Min(reason.Length, 200)];
            await SaveAsync();
        }

        return Status();
    }

    public async Task<MigrationStatus> ForceCompleteAsync(string requestedBy)
    {
        if (S.Request is null)
        {
            throw OmigException.NotFound("migration", $"migration '{Id}' does not exist");
        }

        if (S.ForceCompleteBy is not null && S.CancelReason is null && S.Phase is MigrationPhase.PreCopy or MigrationPhase.PreLastCopy)
        {
            return Status(); // Asked already: the loop is on it.
        }

        if (ForceCompleteRefusal() is { } refusal)
        {
            throw OmigException.Conflict("migration", $"migration '{Id}' cannot be force-completed: {refusal}");
        }

        S.ForceCompleteBy = string.IsNullOrWhiteSpace(requestedBy) ? "operator" : requestedBy[..Math.Min(requestedBy.Length, 200)];
        try
        {
            await SaveAsync();
        }
        catch
        {
            // Not stored, not asked: the caller hears the failure and may ask again.
            S.ForceCompleteBy = null;
            throw;
        }

        return Status();
    }

    /// <summary>Why a force-complete cannot be taken now, or null when it can (pre-copy or its pre-last-copy stage).</summary>
    private string? ForceCompleteRefusal() => S.CancelReason is not null && !MigrationPhases.IsEnded(S.Phase)
        ? $"it is being rolled back ({S.CancelReason})"
        : S.Phase switch
        {
            MigrationPhase.PreCopy or MigrationPhase.PreLastCopy => null,
            MigrationPhase.Queued or MigrationPhase.Prepare => $"it is {Naming.EnumNames.Of(S.Phase)}, pre-copy has not started",
            MigrationPhase.Switchover => "it is switching over already",
            MigrationPhase.PostMigration => "it is past the commit point (post-migration): the VM runs on the destination",
            MigrationPhase.Completed => "it has completed",
            MigrationPhase.RollingBack => "it is rolling back",
            _ => $"it has ended ({Naming.EnumNames.Of(S.Phase)})",
        };

    public async IAsyncEnumerable<MigrationStatus> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (S.Request is null)
        {
            throw OmigException.NotFound("migration", $"migration '{Id}' does not exist");
        }

        MigrationStatus? last = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            var now = Status();
            // A wait for an agent counts its tries: while it lasts, watchers hear about it every poll interval.
            if (last is null || now.Phase != last.Phase || now.Progress != last.Progress || now.AgentWait != last.AgentWait
                || now.SwitchoverReason != last.SwitchoverReason || now.IsEnded)
            {
                yield return now;
                last = now;
            }

            if (now.IsEnded)
            {
                yield break;
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (S.Request is null || MigrationPhases.IsEnded(S.Phase))
        {
            if (S.Request is not null)
            {
                // An end whose notification was lost still frees the scheduler's slot.
                await NotifySchedulerAsync();
            }

            if (await this.GetReminder(reminderName) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }

            return;
        }

        EnsureRunning();
    }

    private MigrationStatus Status() => new(Id, S.Request!, S.SourceHost, S.DestinationHost, S.Phase, S.Timeline, S.Progress, S.Downtime,
        S.Failure, S.CreatedAt, S.TotalMs, S.Attempts, S.Hypervisor, S.AgentWait, S.GuestCheck, S.SwitchoverReason, Cold: S.Cold) { DeviceSteps = S.DeviceSteps };

    private void EnsureRunning()
    {
        if (_run is null || _run.IsCompleted)
        {
            _run = DriveAsync();
        }
    }

    /// <summary>
    /// Runs the loop and observes it: nobody awaits it, so a failure that escapes it (a state write failing inside its
    /// own error handling) is logged, counted and the loop re-driven after a back-off of 250 ms doubling to 5 s,
    /// instead of waiting a minute for the reminder (which stays the backstop if this activation dies). The back-off
    /// awaits on this activation's scheduler and keeps <see cref="_run"/> pending, so a reminder tick meanwhile does
    /// not start a second loop; a deactivating activation stops here and leaves the next one to the reminder.
    /// </summary>
    private async Task DriveAsync()
    {
        // A reminder or a call may start the loop after a version conflict: never run on the stale state.
        while (!_deactivating && !await ReloadIfStaleAsync())
        {
            await Task.Delay(MaxRedrive, time, _stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        }

        if (_deactivating || S.Request is null || MigrationPhases.IsEnded(S.Phase))
        {
            return;
        }

        for (var faults = 1; ; faults++)
        {
            try
            {
                await RunAsync();
                return;
            }
            catch (Exception ex)
            {
                LogLoopFault(logger, Id, S.Phase, faults, ex);
                telemetry.LoopFaults.Add(1, new KeyValuePair<string, object?>("phase", S.Phase.ToString()));
            }

            var backoff = TimeSpan.FromTicks(Math.Min(MaxRedrive.Ticks, FirstRedrive.Ticks << Math.Min(faults - 1, 10)));
            await Task.Delay(backoff, time, _stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
            while (!_deactivating && !await ReloadIfStaleAsync())
            {
                // The stored state could not be read yet (the database is still away): nothing runs on stale state.
                await Task.Delay(MaxRedrive, time, _stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
            }

            if (_deactivating || S.Request is null || MigrationPhases.IsEnded(S.Phase))
            {
                if (!_deactivating && S.Request is not null && MigrationPhases.IsEnded(S.Phase))
                {
                    // The stored state says it ended (a write that landed unanswered): the scheduler still needs to hear it.
                    await NotifySchedulerAsync();
                }

                return;
            }
        }
    }

    /// <summary>After a version conflict, reads the stored state back (memory and ETag become the truth again). False when
    /// it is still stale (the read failed).</summary>
    private async Task<bool> ReloadIfStaleAsync()
    {
        if (!_stale)
        {
            return true;
        }

        try
        {
            await state.ReadStateAsync();
            _stale = false;
            LogReloaded(logger, Id, S.Phase);
            return true;
        }
        catch (Exception ex)
        {
            LogRetry(logger, Id, "reload-state", 1, ex.GetBaseException().Message);
            return false;
        }
    }

    /// <summary>Moves to <paramref name="next"/>, closing the current span; persisted unless <paramref name="persist"/> is false
    /// (the switchover: no storage write inside the downtime).</summary>
    /// <param name="log">False inside the downtime: the caller logs the phase once the switchover is over.</param>
    private async Task MoveAsync(MigrationPhase next, bool persist = true, bool log = true)
    {
        if (!MigrationPhases.CanMove(S.Phase, next))
        {
            throw new InvalidOperationException($"migration {Id}: no transition {S.Phase} → {next}");
        }

        var (oldPhase, oldTimeline, oldTotal) = (S.Phase, S.Timeline, S.TotalMs);
        var now = time.GetUtcNow();
        var timeline = S.Timeline.IsDefault ? [] : S.Timeline;
        if (timeline.Length > 0 && timeline[^1].EndedAt is null)
        {
            var open = timeline[^1];
            telemetry.PhaseDuration.Record((now - open.StartedAt).TotalMilliseconds, new KeyValuePair<string, object?>("phase", open.Phase.ToString()));
            telemetry.PhaseSeconds.Record((now - open.StartedAt).TotalSeconds, new KeyValuePair<string, object?>("phase", open.Phase.ToString()));
            timeline = timeline.SetItem(timeline.Length - 1, open with { EndedAt = now });
        }

        S.Timeline = MigrationPhases.IsEnded(next) ? timeline.Add(new PhaseSpan(next, now, now)) : timeline.Add(new PhaseSpan(next, now, null));
        S.Phase = next;
        if (!MigrationPhases.IsEnded(next))
        {
            telemetry.Track(Id, S.Vm!.VmId, next, S.Progress);
        }

        if (MigrationPhases.IsEnded(next))
        {
            S.TotalMs = (now - S.CreatedAt).TotalMilliseconds;
        }

        if (log)
        {
            LogPhase(logger, Id, next);
        }

        if (persist)
        {
            try
            {
                await Fault(Faults.FaultSteps.MigrationSavePhase);
                await SaveAsync();
            }
            catch
            {
                // Memory must not run ahead of storage: a phase that was not stored did not happen.
                (S.Phase, S.Timeline, S.TotalMs) = (oldPhase, oldTimeline, oldTotal);
                throw;
            }
        }
    }

    private async Task SaveAsync()
    {
        await _writeGate.WaitAsync();
        try
        {
            await state.WriteStateAsync();
        }
        catch (Orleans.Storage.InconsistentStateException)
        {
            // The stored row moved on without this activation (its own write landed although the database crashed
            // before answering): its ETag is stale and every later write would fail for as long as it lives. The state
            // is read back before the next drive or start (ReloadIfStaleAsync) — not here, where the caller is about
            // to restore what it changed — and the loop carries on from what is stored. (Stepping aside for a new
            // activation was not enough: the stale one lived on, re-driven by its reminder into the same conflict.)
            _stale = true;
            throw;
        }
        finally
        {
            _writeGate.Release();
        }
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Migration {MigrationId} → {Phase}")]
    private static partial void LogPhase(ILogger logger, string migrationId, MigrationPhase phase);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Migration {MigrationId} re-driven in phase {Phase} after its activation was lost")]
    private static partial void LogRecovered(ILogger logger, string migrationId, MigrationPhase phase);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Migration {MigrationId} rolling back: {Reason}")]
    private static partial void LogRollingBack(ILogger logger, string migrationId, string reason);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "Migration {MigrationId}: step {Step} failed (attempt {Attempt}), retrying: {Error}")]
    private static partial void LogRetry(ILogger logger, string migrationId, string step, int attempt, string error);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning, Message = "Migration {MigrationId} stalled: downtime target raised to {TargetMs} ms")]
    private static partial void LogEscalated(ILogger logger, string migrationId, double targetMs);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Error, Message = "Migration {MigrationId} failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string migrationId, string reason);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Warning, Message = "Migration {MigrationId} waits for host {HostId}'s agent (to {Step}) until {Deadline}: {Reason}")]
    private static partial void LogAgentWait(ILogger logger, string migrationId, string hostId, string step, string deadline, string reason);

    [LoggerMessage(EventId = 4013, Level = LogLevel.Warning, Message = "Migration {MigrationId}: state read back after a version conflict; carrying on from {Phase}")]
    private static partial void LogReloaded(ILogger logger, string migrationId, MigrationPhase phase);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Warning, Message = "Migration {MigrationId}: its drive reminder could not be registered on activation ({Error}); it runs anyway, re-activated by the scheduler's sweep if its silo dies")]
    private static partial void LogReminderNotRegistered(ILogger logger, string migrationId, string error);

    [LoggerMessage(EventId = 4009, Level = LogLevel.Error, Message = "Migration {MigrationId}: run loop failed in phase {Phase} (fault {Fault} in a row), re-driving it")]
    private static partial void LogLoopFault(ILogger logger, string migrationId, MigrationPhase phase, int fault, Exception exception);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Information, Message = "Migration {MigrationId}: host {HostId}'s agent answers again after {Seconds:0.#} s")]
    private static partial void LogAgentBack(ILogger logger, string migrationId, string hostId, double seconds);
}
