using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Grains.Planning;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Grains.Operations;

/// <summary>Persisted state of <see cref="PowerGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.PowerGrainState")]
public sealed class PowerGrainState
{
    [Id(0)] public PowerPlanStatus? Plan { get; set; }

    /// <summary>The headroom of the last applied plan; null: the configured one.</summary>
    [Id(1)] public int? HeadroomPercent { get; set; }

    /// <summary>The last power changes, newest first (at most 100).</summary>
    [Id(2)] public ImmutableList<PowerEvent> Events { get; set; } = [];
}

/// <summary>
/// The power manager. A plan comes from <see cref="PowerPlanner"/> on a snapshot of the fleet; applying it cordons
/// every host of the plan (so no drain of the plan picks another), drains them — at most
/// <see cref="PowerOptions.MaxParallelDrains"/> at once, each keeping its VMs inside the host's failure domain — and
/// powers each emptied host off through the <see cref="IPowerBackend"/>, then records it off on the host registry and
/// schedulable again (powering it on is then all it takes to use it). A host whose drain did not empty it goes back into
/// service. While any host is off, every <see cref="PowerOptions.WatchIntervalSeconds"/> the manager checks each domain's
/// headroom and powers on the cheapest powered-off host of a domain under it (see <see cref="Cheapest"/>); a drain that
/// finds no destination asks it for room the same way. Backend calls of the plan and the watch run outside the grain's
/// turns; a pass collects their outcome.
/// </summary>
[ControlPlanePlacement]
public sealed partial class PowerGrain(
    [PersistentState("power", StorageNames.Fleet)] IPersistentState<PowerGrainState> state,
    PowerOptions options,
    IPowerBackend backend,
    IOptions<MigrationPolicyOptions> policies,
    TimeProvider time,
    ILogger<PowerGrain> logger) : Grain, IPowerGrain, IRemindable
{
    private const string DriveReminder = "power-drive";
    private const int MaxEvents = 100;

    /// <summary>Power changes running in the background, by host: true for on.</summary>
    private readonly Dictionary<string, (bool On, string Reason, Task Work, DateTimeOffset Started)> _changes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _roomAsked = new(StringComparer.Ordinal);

    /// <summary>Why the last background power change of a host failed, until the plan's pass reads it.</summary>
    private readonly Dictionary<string, string> _failed = new(StringComparer.Ordinal);
    private DateTimeOffset _lastWatch;
    private DriveLoop? _loop;

    private int Headroom => state.State.HeadroomPercent ?? options.HeadroomPercent;

    private string Label => options.FailureDomainLabel;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Plan is { State: PowerPlanState.Applying })
        {
            await Loop.ArmAsync();
        }
    }

    public async Task<PowerPlanStatus> PlanAsync(int headroomPercent, string? domain)
    {
        PowerPlanner.ValidateHeadroom(headroomPercent);
        if (domain is { Length: 0 or > 63 })
        {
            throw OmigException.Invalid("domain", "must be 1-63 characters when given");
        }

        if (state.State.Plan is { State: PowerPlanState.Applying } applying)
        {
            throw OmigException.Conflict("plan", $"power plan '{applying.PlanId}' is being applied: wait for it to end (omig power show)");
        }

        var fleet = await SnapshotAsync();
        var clock = Stopwatch.StartNew();
        var plan = PowerPlanner.Plan(fleet, headroomPercent, Label, Resolver, domain);
        var seconds = clock.Elapsed.TotalSeconds;
        var hosts = fleet.Hosts.ToDictionary(h => h.HostId, StringComparer.Ordinal);
        state.State.Plan = new PowerPlanStatus("power-" + Guid.NewGuid().ToString("N")[..10], headroomPercent, Label, PowerPlanState.Planned,
            plan.HostsFreed, plan.Bound, plan.Moves.Length,
            [.. plan.HostsToFree.Select(id => new PowerHostStep(id, PowerPlanner.DomainOf(hosts[id], Label), hosts[id].Vms.Count, PowerHostState.Pending))],
            plan.Domains, plan.Reasons, seconds, time.GetUtcNow());
        await state.WriteStateAsync();
        return state.State.Plan;
    }

    public async Task<PowerPlanStatus> ApplyAsync()
    {
        var plan = state.State.Plan ?? throw OmigException.NotFound("plan", "there is no power plan: make one with omig power plan");
        if (plan.State == PowerPlanState.Applying)
        {
            return plan;
        }

        if (plan.IsEnded)
        {
            throw OmigException.Conflict("plan", $"power plan '{plan.PlanId}' was applied already ({Naming.EnumNames.Of(plan.State)}): make a new one with omig power plan");
        }

        // The fleet may have changed since the plan: refuse (nothing changed) when it would now break the headroom.
        var hosts = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).ListHostsAsync();
        var byId = hosts.ToDictionary(h => h.HostId, StringComparer.Ordinal);
        foreach (var step in plan.Hosts)
        {
            if (!byId.TryGetValue(step.HostId, out var host))
            {
                throw OmigException.Conflict("plan", $"host '{step.HostId}' of power plan '{plan.PlanId}' is no longer registered: plan again");
            }

            if (!DestinationSelector.TakesVms(host))
            {
                throw OmigException.Conflict("plan", $"host '{step.HostId}' of power plan '{plan.PlanId}' is {Naming.EnumNames.Of(host.Scheduling)}, {Naming.EnumNames.Of(host.Health)}, {Naming.EnumNames.Of(host.Power)} now: plan again");
            }
        }

        if (UnderHeadroom(hosts, plan.Hosts.Select(h => h.HostId).ToHashSet(StringComparer.Ordinal), plan.HeadroomPercent) is { } why)
        {
            throw OmigException.Conflict("headroom", $"applying power plan '{plan.PlanId}' now would leave {why}: the fleet changed since the plan; plan again");
        }

        state.State.Plan = plan with { State = PowerPlanState.Applying };
        state.State.HeadroomPercent = plan.HeadroomPercent;
        await state.WriteStateAsync();
        foreach (var step in plan.Hosts)
        {
            // All cordoned first, so the plan's drains never move VMs onto one another's hosts.
            await GrainFactory.GetGrain<IHostGrain>(step.HostId).SetSchedulingAsync(SchedulingState.Cordoned);
        }

        LogApplying(logger, plan.PlanId, plan.Hosts.Length, plan.HeadroomPercent);
        await Loop.ArmAsync();
        await DriveAsync();
        return state.State.Plan!;
    }

    public async Task<PowerStatus> GetAsync()
    {
        var hosts = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).ListHostsAsync();
        return new PowerStatus(Headroom, Label, options.Backend.Trim().ToLowerInvariant(), state.State.Plan, PowerPlanner.Domains(hosts, Label),
            [.. hosts.Where(h => h.Power == HostPowerState.Off).Select(h => h.HostId).Order(StringComparer.Ordinal)], [.. state.State.Events]);
    }

    public async Task<HostRecord> SetHostPowerAsync(string hostId, HostPowerState power, string reason)
    {
        FleetValidation.RequireId("host", hostId);
        if (!Enum.IsDefined(power))
        {
            throw OmigException.Invalid("power", $"'{power}' is not on or off");
        }

        var registry = GrainFactory.GetGrain<IHostGrain>(hostId);
        var host = await registry.GetAsync() ?? throw OmigException.NotFound("host", $"host '{hostId}' is not registered");
        if (host.Power == power)
        {
            return host;
        }

        if (_changes.ContainsKey(hostId))
        {
            throw OmigException.Conflict("host", $"host '{hostId}' is being powered {(_changes[hostId].On ? "on" : "off")} already");
        }

        if (power == HostPowerState.On)
        {
            await PowerOnAsync(hostId, reason);
            return (await registry.GetAsync())!;
        }

        if (host.Vms.Count > 0)
        {
            throw OmigException.Conflict("host", $"host '{hostId}' runs {host.Vms.Count} VM(s): drain it before powering it off (omig host drain {hostId})");
        }

        if (host.Scheduling == SchedulingState.Draining)
        {
            throw OmigException.Conflict("host", $"host '{hostId}' is being drained");
        }

        if (state.State.Plan is { State: PowerPlanState.Applying } plan && plan.Hosts.Any(h => h.HostId == hostId))
        {
            throw OmigException.Conflict("host", $"host '{hostId}' belongs to power plan '{plan.PlanId}', which is being applied");
        }

        var hosts = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).ListHostsAsync();
        if (UnderHeadroom(hosts, new HashSet<string>(StringComparer.Ordinal) { hostId }, Headroom) is { } why)
        {
            throw OmigException.Conflict("headroom", $"powering off '{hostId}' would leave {why}");
        }

        // Recorded off first (refused in the host's turn if anything landed meanwhile), so it is never a destination
        // while its machine goes down; put back when the backend fails.
        var off = await registry.SetPowerAsync(HostPowerState.Off);
        try
        {
            await backend.SetPowerAsync(hostId, on: false, CancellationToken.None);
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            await registry.SetPowerAsync(HostPowerState.On);
            throw OmigException.Unavailable("power", $"powering off '{hostId}' failed: {ex.Message}");
        }

        await RecordAsync(hostId, HostPowerState.Off, reason);
        await Loop.ArmAsync();
        return off;
    }

    public async Task<string?> EnsureRoomAsync(int vcpus, long memoryMiB, ImmutableArray<string> requiredCpuFeatures, string? domain)
    {
        if (vcpus is < 1 or > 4096)
        {
            throw OmigException.Invalid("vcpus", $"must be between 1 and 4096, got {vcpus}");
        }

        if (memoryMiB is < 1 or > 64L * 1024 * 1024)
        {
            throw OmigException.Invalid("memory", $"must be between 1 MiB and 64 TiB, got {memoryMiB} MiB");
        }

        requiredCpuFeatures = requiredCpuFeatures.IsDefault ? [] : requiredCpuFeatures;
        FleetValidation.ValidateCpuFeatureList("cpu_features", requiredCpuFeatures);
        var hosts = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).ListHostsAsync();
        bool Fits(HostRecord h, long freeVcpus, long freeMemory) =>
            (domain is null || PowerPlanner.DomainOf(h, Label) == domain) && freeVcpus >= vcpus && freeMemory >= memoryMiB
            && requiredCpuFeatures.All(f => h.Spec.CpuFeatures.Contains(f, StringComparer.Ordinal));
        if (hosts.Any(h => DestinationSelector.TakesVms(h) && Fits(h, h.FreeVcpus, h.FreeMemoryMiB)))
        {
            return null;
        }

        var chosen = Cheapest(hosts.Where(h => h.Power == HostPowerState.Off && !_changes.ContainsKey(h.HostId) && Fits(h, h.Spec.Cores, h.Spec.MemoryMiB)))
            ?? throw new OmigException(OmigErrorCode.InsufficientCapacity, "vcpus",
                $"no host{(domain is null ? "" : $" of domain '{domain}'")}, powered on or off, has room for {vcpus} vCPUs and {memoryMiB} MiB{(requiredCpuFeatures.IsEmpty ? "" : " with " + string.Join('+', requiredCpuFeatures))}");
        await PowerOnAsync(chosen.HostId, $"room for {vcpus} vCPUs / {memoryMiB} MiB");
        return chosen.HostId;
    }

    public async Task RequestRoomAsync(string vmId, string sourceHostId, string? domainLabel)
    {
        var now = time.GetUtcNow();
        if (_roomAsked.TryGetValue(vmId, out var asked) && now - asked < TimeSpan.FromSeconds(30))
        {
            return;
        }

        _roomAsked[vmId] = now;
        var vm = await GrainFactory.GetGrain<IVmGrain>(vmId).GetAsync();
        var source = await GrainFactory.GetGrain<IHostGrain>(sourceHostId).GetAsync();
        if (vm is null || source is null)
        {
            return;
        }

        var hosts = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).ListHostsAsync();
        var domain = domainLabel is null ? null : PowerPlanner.DomainOf(source, domainLabel);
        bool InDomain(HostRecord h) => domain is null || PowerPlanner.DomainOf(h, domainLabel!) == domain;
        if (hosts.Any(h => h.Power == HostPowerState.Off && _changes.TryGetValue(h.HostId, out var c) && c.On && InDomain(h)))
        {
            return; // A host of that domain is being powered on already: the drain's next passes will see it.
        }

        var policy = policies.Value.For(vm.Spec);
        if (hosts.Any(h => InDomain(h) && DestinationSelector.Refusal(vm, source, h, [], policy) is null))
        {
            return; // A powered-on host has room by the rules; what stops the drain is not power.
        }

        // As if powered on: every rule but power must let it take the VM.
        if (Cheapest(hosts.Where(h => h.Power == HostPowerState.Off && !_changes.ContainsKey(h.HostId) && InDomain(h)
                && DestinationSelector.Refusal(vm, source, h with { Power = HostPowerState.On }, [], policy) is null)) is { } chosen)
        {
            await StartChangeAsync(chosen.HostId, on: true, $"drain of {sourceHostId} needs room for VM '{vmId}'");
            await Loop.ArmAsync();
        }
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => Loop.OnReminderAsync(true);

    public async Task<PowerStatus> DriveAsync()
    {
        try
        {
            await CollectChangesAsync();
            if (state.State.Plan is { State: PowerPlanState.Applying })
            {
                await AdvancePlanAsync();
            }
            else if (time.GetUtcNow() - _lastWatch >= TimeSpan.FromSeconds(options.WatchIntervalSeconds))
            {
                _lastWatch = time.GetUtcNow();
                await WatchHeadroomAsync();
            }
        }
        catch (Exception ex) when (ex is OmigException or TimeoutException or OrleansException)
        {
            // The next pass tries again (a registry or drain call that failed now).
            LogPassFailed(logger, ex.Message);
        }

        return await GetAsync();
    }

    /// <summary>
    /// "Cheapest" powered-off host: the fewest cores, then the least memory, then the smallest id — the least capacity
    /// (and so, for hosts of one generation, the least power drawn) that meets the need; callers pass only hosts that meet it.
    /// </summary>
    public static HostRecord? Cheapest(IEnumerable<HostRecord> candidates) =>
        candidates.OrderBy(h => h.Spec.Cores).ThenBy(h => h.Spec.MemoryMiB).ThenBy(h => h.HostId, StringComparer.Ordinal).FirstOrDefault();

    /// <summary>The first domain (in words) that would be under <paramref name="headroomPercent"/> with the hosts of
    /// <paramref name="removing"/> off and their VMs kept in the domain, or null when every domain keeps it (domains
    /// already under it are judged only when the removal makes them worse).</summary>
    private string? UnderHeadroom(IEnumerable<HostRecord> hosts, IReadOnlySet<string> removing, int headroomPercent)
    {
        foreach (var g in hosts.GroupBy(h => PowerPlanner.DomainOf(h, Label), StringComparer.Ordinal))
        {
            var counted = g.Where(DestinationSelector.TakesVms).ToList();
            var leaving = counted.Where(h => removing.Contains(h.HostId)).ToList();
            if (leaving.Count == 0)
            {
                continue;
            }

            var after = new PowerDomain(g.Key, counted.Count - leaving.Count, 0,
                counted.Sum(h => (long)h.Spec.Cores) - leaving.Sum(h => (long)h.Spec.Cores), counted.Sum(h => (long)h.UsedVcpus),
                counted.Sum(h => h.Spec.MemoryMiB) - leaving.Sum(h => h.Spec.MemoryMiB), counted.Sum(h => h.UsedMemoryMiB));
            if (!after.Keeps(headroomPercent))
            {
                return $"domain '{g.Key}' ({Label}) with {Math.Max(0, after.FreeCoresPercent):0.#} % of its cores and {Math.Max(0, after.FreeMemoryPercent):0.#} % of its memory free, under the {headroomPercent} % headroom";
            }
        }

        return null;
    }

    /// <summary>Drains and powers off the plan's hosts: ended drains become power-offs (or failures), finished power-offs
    /// are recorded, new drains start while fewer than the limit run; the plan ends when every host has.</summary>
    private async Task AdvancePlanAsync()
    {
        var plan = state.State.Plan!;
        var steps = plan.Hosts.ToList();
        for (var i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            if (step.State == PowerHostState.Draining)
            {
                var drain = await GrainFactory.GetGrain<IHostDrainGrain>(step.HostId).GetAsync();
                if (drain is not { IsEnded: true })
                {
                    continue;
                }

                if (drain.State == DrainState.Completed)
                {
                    steps[i] = step with { State = PowerHostState.PoweringOff };
                    await StartChangeAsync(step.HostId, on: false, $"power plan {plan.PlanId}");
                }
                else
                {
                    // Not emptied: back into service with what stayed on it.
                    await GrainFactory.GetGrain<IHostGrain>(step.HostId).SetSchedulingAsync(SchedulingState.Schedulable);
                    var stuck = drain.Vms.Where(v => v.State != DrainVmState.Moved).Select(v => $"{v.VmId}: {v.Reason}").Take(3);
                    steps[i] = step with { State = PowerHostState.Failed, Reason = $"drain {Naming.EnumNames.Of(drain.State)}: {string.Join("; ", stuck)}" };
                }
            }
            else if (step.State == PowerHostState.PoweringOff && !_changes.ContainsKey(step.HostId))
            {
                var record = await GrainFactory.GetGrain<IHostGrain>(step.HostId).GetAsync();
                if (record is { Power: HostPowerState.Off })
                {
                    steps[i] = step with { State = PowerHostState.Off };
                }
                else if (_failed.Remove(step.HostId, out var failure))
                {
                    await GrainFactory.GetGrain<IHostGrain>(step.HostId).SetSchedulingAsync(SchedulingState.Schedulable);
                    steps[i] = step with { State = PowerHostState.Failed, Reason = failure };
                }
                else
                {
                    // Resumed after a restart with the power-off lost: idempotent, run it again.
                    await StartChangeAsync(step.HostId, on: false, $"power plan {plan.PlanId}");
                }
            }
        }

        var running = steps.Count(s => s.State is PowerHostState.Draining or PowerHostState.PoweringOff);
        for (var i = 0; i < steps.Count && running < options.MaxParallelDrains; i++)
        {
            if (steps[i].State != PowerHostState.Pending)
            {
                continue;
            }

            try
            {
                await GrainFactory.GetGrain<IHostDrainGrain>(steps[i].HostId).StartAsync(
                    new DrainOptions(MaxParallel: 4, RequestedBy: $"power:{plan.PlanId}", DomainLabel: plan.DomainLabel));
                steps[i] = steps[i] with { State = PowerHostState.Draining };
                running++;
            }
            catch (OmigException ex) when (ex.Code != OmigErrorCode.Unavailable)
            {
                await GrainFactory.GetGrain<IHostGrain>(steps[i].HostId).SetSchedulingAsync(SchedulingState.Schedulable);
                steps[i] = steps[i] with { State = PowerHostState.Failed, Reason = ex.Message };
            }
        }

        var next = plan with { Hosts = [.. steps] };
        if (steps.All(s => s.State is PowerHostState.Off or PowerHostState.Failed))
        {
            next = next with { State = steps.All(s => s.State == PowerHostState.Off) ? PowerPlanState.Completed : PowerPlanState.Incomplete, EndedAt = time.GetUtcNow() };
            LogPlanEnded(logger, plan.PlanId, Naming.EnumNames.Of(next.State), steps.Count(s => s.State == PowerHostState.Off), steps.Count);
        }

        if (!next.Hosts.SequenceEqual(plan.Hosts) || next.State != plan.State)
        {
            state.State.Plan = next;
            await state.WriteStateAsync();
        }
    }

    /// <summary>Every domain under the headroom with a powered-off host gets the cheapest one that restores it (else the
    /// largest, and the next watch sees what is still missing) — one power-on per domain at a time.</summary>
    private async Task WatchHeadroomAsync()
    {
        var hosts = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).ListHostsAsync();
        var headroom = Headroom;
        foreach (var g in hosts.GroupBy(h => PowerPlanner.DomainOf(h, Label), StringComparer.Ordinal))
        {
            var off = g.Where(h => h.Power == HostPowerState.Off && h.Scheduling == SchedulingState.Schedulable && h.Health == HostHealth.Ok).ToList();
            if (off.Count == 0 || off.Any(h => _changes.ContainsKey(h.HostId)))
            {
                continue;
            }

            var now = PowerPlanner.Domains(g, Label).Single();
            if (now.Keeps(headroom))
            {
                continue;
            }

            var restoring = Cheapest(off.Where(h => (now with { Cores = now.Cores + h.Spec.Cores, MemoryMiB = now.MemoryMiB + h.Spec.MemoryMiB }).Keeps(headroom)))
                ?? off.OrderByDescending(h => h.Spec.Cores).ThenByDescending(h => h.Spec.MemoryMiB).ThenBy(h => h.HostId, StringComparer.Ordinal).First();
            await StartChangeAsync(restoring.HostId, on: true,
                $"domain '{g.Key}' under the {headroom} % headroom ({now.FreeCoresPercent:0.#} % of cores, {now.FreeMemoryPercent:0.#} % of memory free)");
        }

        if (!hosts.Any(h => h.Power == HostPowerState.Off) && _changes.Count == 0 && state.State.Plan is not { State: PowerPlanState.Applying })
        {
            await Loop.DisarmAsync();
        }
    }

    /// <summary>Powers a host on and waits for it: the backend, then its agent answering, then the registry.</summary>
    private async Task PowerOnAsync(string hostId, string reason)
    {
        try
        {
            await backend.SetPowerAsync(hostId, on: true, CancellationToken.None);
            var clock = Stopwatch.StartNew();
            while (!await AgentAnswersAsync(hostId))
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(options.AgentWaitSeconds))
                {
                    throw new TimeoutException($"host '{hostId}' was powered on but its agent did not answer within {options.AgentWaitSeconds} s");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500));
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            throw OmigException.Unavailable("power", $"powering on '{hostId}' failed: {ex.Message}");
        }

        await GrainFactory.GetGrain<IHostGrain>(hostId).SetPowerAsync(HostPowerState.On);
        await RecordAsync(hostId, HostPowerState.On, reason);
    }

    /// <summary>Whether the host's agent answers now (its host silo is up), asked from this grain's turn.</summary>
    private async Task<bool> AgentAnswersAsync(string hostId)
    {
        try
        {
            await GrainFactory.GetGrain<IHostAgentGrain>(hostId).GetInfoAsync().WaitAsync(TimeSpan.FromSeconds(5));
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || ex is TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>Starts a power change: only the backend call runs outside the grain's turns (grain calls stay in them);
    /// <see cref="CollectChangesAsync"/> records its outcome. A power-off is recorded on the registry first (refused there
    /// if anything landed on the host), so the host is never a destination while its machine goes down.</summary>
    private async Task StartChangeAsync(string hostId, bool on, string reason)
    {
        if (_changes.ContainsKey(hostId))
        {
            return;
        }

        if (!on)
        {
            await GrainFactory.GetGrain<IHostGrain>(hostId).SetPowerAsync(HostPowerState.Off);
        }

        _changes[hostId] = (on, reason, Task.Run(() => backend.SetPowerAsync(hostId, on, CancellationToken.None)), time.GetUtcNow());
    }

    private async Task CollectChangesAsync()
    {
        foreach (var (hostId, (on, reason, work, started)) in _changes.Where(c => c.Value.Work.IsCompleted).ToList())
        {
            var registry = GrainFactory.GetGrain<IHostGrain>(hostId);
            var failed = work.Exception?.GetBaseException();
            if (failed is null && on && !await AgentAnswersAsync(hostId))
            {
                if (time.GetUtcNow() - started <= TimeSpan.FromSeconds(options.AgentWaitSeconds))
                {
                    continue; // Booting: asked again at the next pass.
                }

                failed = new TimeoutException($"its agent did not answer within {options.AgentWaitSeconds} s");
            }

            _changes.Remove(hostId);
            if (failed is not null)
            {
                LogPowerFailed(logger, hostId, on ? "on" : "off", failed.Message);
                _failed[hostId] = $"powering {(on ? "on" : "off")} failed: {failed.Message}";
                if (!on && await registry.GetAsync() is { Power: HostPowerState.Off })
                {
                    // The machine may still run: back on in the registry, so it is used rather than lost.
                    await registry.SetPowerAsync(HostPowerState.On);
                }

                continue;
            }

            if (on)
            {
                await registry.SetPowerAsync(HostPowerState.On);
            }

            await RecordAsync(hostId, on ? HostPowerState.On : HostPowerState.Off, reason);
            if (!on)
            {
                await registry.SetSchedulingAsync(SchedulingState.Schedulable);
            }
        }
    }

    private async Task RecordAsync(string hostId, HostPowerState power, string reason)
    {
        LogPowered(logger, hostId, power == HostPowerState.On ? "on" : "off", reason);
        var events = state.State.Events.Insert(0, new PowerEvent(time.GetUtcNow(), hostId, power, reason));
        state.State.Events = events.Count > MaxEvents ? events.RemoveRange(MaxEvents, events.Count - MaxEvents) : events;
        await state.WriteStateAsync();
    }

    private PolicyResolver Resolver => vm => policies.Value.For(vm.Spec);

    private async Task<FleetSnapshot> SnapshotAsync()
    {
        var fleet = GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key);
        return new FleetSnapshot(await fleet.ListHostsAsync(), await fleet.ListVmsAsync());
    }

    private DriveLoop Loop => _loop ??= new DriveLoop(this, DriveReminder, TimeSpan.FromMilliseconds(500), async () => await DriveAsync());

    [LoggerMessage(EventId = 1801, Level = LogLevel.Information, Message = "Power plan {PlanId}: applying, {Hosts} host(s) to drain and power off, headroom {Headroom} %")]
    private static partial void LogApplying(ILogger logger, string planId, int hosts, int headroom);

    [LoggerMessage(EventId = 1802, Level = LogLevel.Information, Message = "Power plan {PlanId} ended {State}: {Off} of {Hosts} host(s) off")]
    private static partial void LogPlanEnded(ILogger logger, string planId, string state, int off, int hosts);

    [LoggerMessage(EventId = 1803, Level = LogLevel.Information, Message = "Host {HostId} powered {Power}: {Reason}")]
    private static partial void LogPowered(ILogger logger, string hostId, string power, string reason);

    [LoggerMessage(EventId = 1805, Level = LogLevel.Warning, Message = "A power manager pass failed, tried again at the next: {Reason}")]
    private static partial void LogPassFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 1804, Level = LogLevel.Warning, Message = "Powering host {HostId} {Power} failed: {Reason}")]
    private static partial void LogPowerFailed(ILogger logger, string hostId, string power, string reason);
}
