using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Options;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Grains.Planning;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Grains.Operations;

/// <summary>Persisted state of <see cref="FleetPlanGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.FleetPlanGrainState")]
public sealed class FleetPlanGrainState
{
    [Id(0)] public FleetPlanStatus? Status { get; set; }

    [Id(1)] public int MaxParallel { get; set; } = 2;
}

/// <summary>
/// A defragmentation or rebalancing plan: computed by <see cref="DefragPlanner"/> / <see cref="BalancePlanner"/> on a
/// snapshot of the fleet with the cluster's policies, stored, and applied on request — moves submitted in plan order
/// (each was valid at its place in the order), at most MaxParallel in flight, a rollback retried, a refused move
/// retried a few passes and then reported. Driven by a timer while applying and a reminder, like drains.
/// </summary>
[ControlPlanePlacement]
public sealed class FleetPlanGrain(
    [PersistentState("plan", StorageNames.Fleet)] IPersistentState<FleetPlanGrainState> state,
    IOptions<MigrationPolicyOptions> policies,
    IOwnerNotifier owners,
    TimeProvider time) : Grain, IFleetPlanGrain, IRemindable
{
    private const string DriveReminder = "plan-drive";
    private const int MaxAttempts = 3;
    private readonly Dictionary<string, int> _refusals = new(StringComparer.Ordinal);
    private DriveLoop? _loop;

    private string Id => this.GetPrimaryKeyString();

    private FleetPlanStatus? S
    {
        get => state.State.Status;
        set => state.State.Status = value;
    }

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S is { State: FleetPlanState.Applying })
        {
            await ArmAsync();
        }
    }

    public async Task<FleetPlanStatus> PlanDefragAsync(int vcpus, long memoryMiB, int count, ImmutableArray<string> requiredCpuFeatures)
    {
        requiredCpuFeatures = requiredCpuFeatures.IsDefault ? [] : requiredCpuFeatures;
        FleetValidation.ValidateCpuFeatureList("shape.features", requiredCpuFeatures);
        if (vcpus is < 1 or > 4096)
        {
            throw OmigException.Invalid("shape.vcpus", $"must be between 1 and 4096, got {vcpus}");
        }

        if (memoryMiB is < 1 or > 64L * 1024 * 1024)
        {
            throw OmigException.Invalid("shape.memory", $"must be between 1 MiB and 64 TiB, got {memoryMiB} MiB");
        }

        if (count is < 1 or > 100_000)
        {
            throw OmigException.Invalid("count", $"must be between 1 and 100000, got {count}");
        }

        RequireNew();
        var fleet = await SnapshotAsync();
        var clock = Stopwatch.StartNew();
        DefragPlan plan;
        try
        {
            plan = DefragPlanner.Plan(fleet, new InstanceShape(vcpus, memoryMiB, requiredCpuFeatures), count, Resolver, Id);
        }
        catch (ArgumentException ex)
        {
            throw OmigException.Invalid("count", ex.Message);
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var notes = plan.Targets.Select(t => $"{t.HostId} will hold {t.Count}").Concat(plan.Reasons).ToImmutableArray();
        S = new FleetPlanStatus(Id, "defrag", $"room for {count} × {vcpus} vCPUs / {memoryMiB / 1024.0:0.#} GiB{(requiredCpuFeatures.IsEmpty ? "" : " with " + string.Join('+', requiredCpuFeatures))} ({plan.AlreadyFitting} fit already)",
            FleetPlanState.Planned, plan.Reached, Moves(plan.Moves), plan.LowerBound, notes, seconds, time.GetUtcNow(), null);
        await state.WriteStateAsync();
        return S;
    }

    public async Task<FleetPlanStatus> PlanBalanceAsync(double maxUtil, int coolDownMinutes)
    {
        if (double.IsNaN(maxUtil) || maxUtil is < 0.1 or > 1)
        {
            throw OmigException.Invalid("max-util", $"must be between 0.1 and 1, got {maxUtil.ToString(CultureInfo.InvariantCulture)}");
        }

        if (coolDownMinutes is < 0 or > 10_080)
        {
            throw OmigException.Invalid("cool-down", $"must be between 0 and 10080 minutes, got {coolDownMinutes}");
        }

        RequireNew();
        var fleet = await SnapshotAsync();
        var lastMoved = await GrainFactory.GetGrain<IBalancerMemoryGrain>(IBalancerMemoryGrain.Key).LastMovedAsync();
        var clock = Stopwatch.StartNew();
        var plan = BalancePlanner.Plan(fleet, maxUtil, lastMoved, TimeSpan.FromMinutes(coolDownMinutes), time.GetUtcNow(), Resolver, Id);
        var seconds = clock.Elapsed.TotalSeconds;
        var notes = plan.Unresolved.Select(u => $"{u.HostId} stays above: {u.Reason}").ToImmutableArray();
        S = new FleetPlanStatus(Id, "balance", string.Create(CultureInfo.InvariantCulture, $"every host at most {maxUtil:P0} of cores and memory ({plan.HostsOver} above now)"),
            FleetPlanState.Planned, plan.Unresolved.IsEmpty, Moves(plan.Moves), null, notes, seconds, time.GetUtcNow(), null);
        await state.WriteStateAsync();
        return S;
    }

    public async Task<FleetPlanStatus> ApplyAsync(int maxParallel)
    {
        var s = S ?? throw OmigException.NotFound("plan", $"plan '{Id}' does not exist");
        if (maxParallel is < 1 or > 1000)
        {
            throw OmigException.Invalid("max-parallel", $"must be between 1 and 1000, got {maxParallel}");
        }

        if (s.State != FleetPlanState.Planned)
        {
            return s;
        }

        state.State.MaxParallel = maxParallel;
        S = s with { State = FleetPlanState.Applying };
        await state.WriteStateAsync();
        await ArmAsync();
        return await DriveAsync() ?? S;
    }

    public Task<FleetPlanStatus?> GetAsync() => Task.FromResult(S);

    public Task ReceiveReminder(string reminderName, TickStatus status) => Loop.OnReminderAsync(S is { State: FleetPlanState.Applying });

    public async Task<FleetPlanStatus?> DriveAsync()
    {
        if (S is not { State: FleetPlanState.Applying })
        {
            return S;
        }

        var moves = S.Moves.ToList();
        var scheduler = new SchedulerRouter(GrainFactory);
        for (var i = 0; i < moves.Count; i++)
        {
            if (moves[i].State != PlanMoveState.Migrating)
            {
                continue;
            }

            var m = await GrainFactory.GetGrain<IMigrationGrain>(moves[i].MigrationId!).GetAsync();
            if (m is null && await scheduler.FindOpenAsync(moves[i].MigrationId!) is null
                && await GrainFactory.GetGrain<IMigrationGrain>(moves[i].MigrationId!).GetAsync() is null)
            {
                // Neither queued nor started: the scheduler dropped it (its VM was gone when its turn came).
                moves[i] = moves[i] with
                {
                    State = moves[i].Attempts >= MaxAttempts ? PlanMoveState.Failed : PlanMoveState.Pending,
                    Reason = $"migration {moves[i].MigrationId} was dropped before it started",
                };
                continue;
            }

            if (m is null || !m.IsEnded)
            {
                continue;
            }

            if (m.Phase == MigrationPhase.Completed)
            {
                moves[i] = moves[i] with { State = PlanMoveState.Done, Reason = null };
                if (S.Kind == "balance")
                {
                    await GrainFactory.GetGrain<IBalancerMemoryGrain>(IBalancerMemoryGrain.Key).MovedAsync(moves[i].VmId, time.GetUtcNow());
                }
            }
            else
            {
                moves[i] = moves[i] with
                {
                    State = moves[i].Attempts >= MaxAttempts ? PlanMoveState.Failed : PlanMoveState.Pending,
                    Reason = $"migration {m.MigrationId} {Naming.EnumNames.Of(m.Phase)}: {m.Failure}",
                };
            }
        }

        // In plan order: a move waits for every earlier move that has not ended, when slots are short.
        var slots = state.State.MaxParallel - moves.Count(x => x.State == PlanMoveState.Migrating);
        for (var i = 0; i < moves.Count && slots > 0; i++)
        {
            if (moves[i].State != PlanMoveState.Pending)
            {
                continue;
            }

            var move = moves[i];
            if (policies.Value.Resolve(move.Policy).NotifyOwner && !move.OwnerNotified)
            {
                // The owner hears before the VM moves; a notice that cannot be delivered holds the move back.
                try
                {
                    var spec = (await GrainFactory.GetGrain<IVmGrain>(move.VmId).GetAsync())?.Spec;
                    await owners.NotifyAsync(new OwnerNotice(move.VmId, spec is null ? "unknown" : OwnerNotifier.OwnerOf(spec), $"{S.Kind} plan {Id}", move.Policy, time.GetUtcNow()), CancellationToken.None);
                    moves[i] = move = move with { OwnerNotified = true };
                }
                catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
                {
                    moves[i] = move with { Reason = $"held back: the owner notice failed ({ex.Message})" };
                    continue;
                }
            }

            try
            {
                var started = await scheduler.SubmitAsync(new MigrationRequest(move.VmId, move.ToHost, move.Policy, OrchestrationMode.Parallel, MigrationPriority.Maintenance, $"{S.Kind}:{Id}"));
                moves[i] = move with { State = PlanMoveState.Migrating, MigrationId = started.MigrationId, Attempts = move.Attempts + 1, Reason = null };
                slots--;
            }
            catch (OmigException ex) when (ex.Code is not OmigErrorCode.InvalidArgument)
            {
                // The fleet changed since the plan (capacity still held by an earlier move, the VM moved or
                // migrating): retried on the next passes, then reported.
                var n = _refusals[move.VmId] = _refusals.GetValueOrDefault(move.VmId) + 1;
                moves[i] = move with { State = n >= 20 ? PlanMoveState.Failed : PlanMoveState.Pending, Reason = ex.Message };
            }
        }

        var next = S with { Moves = [.. moves] };
        if (!moves.Any(x => x.State is PlanMoveState.Pending or PlanMoveState.Migrating))
        {
            next = next with { State = moves.All(x => x.State == PlanMoveState.Done) ? FleetPlanState.Completed : FleetPlanState.Incomplete, EndedAt = time.GetUtcNow() };
        }

        if (!next.Moves.SequenceEqual(S.Moves) || next.State != S.State)
        {
            S = next;
            await state.WriteStateAsync();
        }

        if (S.IsEnded)
        {
            await DisarmAsync();
        }

        return S;
    }

    private PolicyResolver Resolver => vm => policies.Value.For(vm.Spec);

    private void RequireNew()
    {
        if (S is not null)
        {
            throw OmigException.Conflict("plan", $"plan '{Id}' already exists");
        }
    }

    private async Task<FleetSnapshot> SnapshotAsync()
    {
        var fleet = GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key);
        var hosts = await fleet.ListHostsAsync();
        var vms = await fleet.ListVmsAsync();
        return new FleetSnapshot(hosts, vms);
    }

    private static ImmutableArray<PlanMoveStatus> Moves(ImmutableArray<PlannedMove> moves) =>
        [.. moves.Select(m => new PlanMoveStatus(m.VmId, m.FromHost, m.ToHost, m.Policy, PlanMoveState.Pending))];

    private DriveLoop Loop => _loop ??= new DriveLoop(this, DriveReminder, TimeSpan.FromMilliseconds(500), DriveAsync);

    private Task ArmAsync() => Loop.ArmAsync();

    private Task DisarmAsync() => Loop.DisarmAsync();
}

/// <summary>When the balancer last moved each VM (entries older than a week are dropped).</summary>
[ControlPlanePlacement]
public sealed class BalancerMemoryGrain(
    [PersistentState("balancer", StorageNames.Fleet)] IPersistentState<BalancerMemoryState> state,
    TimeProvider time) : Grain, IBalancerMemoryGrain
{
    public async Task MovedAsync(string vmId, DateTimeOffset at)
    {
        var cutoff = time.GetUtcNow() - TimeSpan.FromDays(7);
        state.State.LastMoved = state.State.LastMoved.RemoveRange(state.State.LastMoved.Where(kv => kv.Value < cutoff).Select(kv => kv.Key)).SetItem(vmId, at);
        await state.WriteStateAsync();
    }

    public Task<ImmutableDictionary<string, DateTimeOffset>> LastMovedAsync() => Task.FromResult(state.State.LastMoved);
}

/// <summary>Persisted state of <see cref="BalancerMemoryGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.BalancerMemoryState")]
public sealed class BalancerMemoryState
{
    [Id(0)] public ImmutableDictionary<string, DateTimeOffset> LastMoved { get; set; } = ImmutableDictionary<string, DateTimeOffset>.Empty;
}
