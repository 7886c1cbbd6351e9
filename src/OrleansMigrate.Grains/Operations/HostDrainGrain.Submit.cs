using System.Collections.Immutable;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Grains.Operations;

/// <summary>A pass's submissions: the pending VMs sampled for a prediction, a destination chosen for each, and their migrations submitted.</summary>
public sealed partial class HostDrainGrain
{
    /// <summary>Destinations tried for one VM in one pass when the scheduler refuses the chosen one.</summary>
    private const int MaxSubmitTries = 3;

    /// <summary>Destinations a pass reads beyond one per submit try: hosts the anti-affinity rule or an incompatible CPU
    /// refuses are skipped without reading the rest of the ranking.</summary>
    private const int CandidateMargin = 16;

    /// <summary>Passes without a destination between two requests to the power manager for room (the first pass asks).</summary>
    private const int RoomRequestPasses = 50;

    /// <summary>How long a VM is sampled before it moves, and for how long a prediction stands.</summary>
    private static readonly TimeSpan PreflightSample = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan PreflightFresh = TimeSpan.FromSeconds(10);

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
        var walk = view.RankedFor(options.PreferFirmware).Walk(HostId);
        if (options.DomainLabel is { } label)
        {
            // A power plan's drain: only hosts of the drained host's failure domain (its headroom was planned per domain).
            var domain = Planning.PowerPlanner.DomainOf(source, label);
            walk = walk.Where(h => Planning.PowerPlanner.DomainOf(h, label) == domain);
        }

        var ranked = new DrainCandidates(walk, options.PreferFirmware,
            take: (slots * MaxSubmitTries) + CandidateMargin);
        var records = (await Task.WhenAll(pending.Select(v => GrainFactory.GetGrain<IVmGrain>(v.VmId).GetAsync())))
            .OfType<VmRecord>().ToDictionary(v => v.VmId, StringComparer.Ordinal);
        var scheduler = new SchedulerRouter(GrainFactory);

        if (options.Preflight)
        {
            // A VM moved cold has no pre-copy to predict.
            await PredictAsync(pending.Where(v => records.TryGetValue(v.VmId, out var r) && r.HostId == HostId && !DestinationSelector.MovesCold(r.Spec, PolicyFor(r, options)))
                .Select(v => records[v.VmId]).ToList(), options);
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
            var cold = DestinationSelector.MovesCold(record.Spec, policy);
            var unmeetable = options.Preflight && !cold && _predictions.TryGetValue(vm.VmId, out var predicted) ? DrainPass.Unmeetable(policy, predicted.Prediction) : null;
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
                    if (passes % RoomRequestPasses == 1)
                    {
                        // No powered-on host can take it: the power manager powers one on if a powered-off host would do.
                        await GrainFactory.GetGrain<IPowerGrain>(IPowerGrain.Key).RequestRoomAsync(vm.VmId, HostId, options.DomainLabel);
                    }

                    break;
                }

                _noDestination.Remove(vm.VmId);
                // A cold move tells the owner itself (it always does: the VM stops), right before it shuts the guest down.
                if (policy.NotifyOwner && !cold && !vms[vm.VmId].OwnerNotified)
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
                    var status = await scheduler.SubmitAsync(new MigrationRequest(vm.VmId, destination.HostId, policy.Name, OrchestrationMode.Parallel, MigrationPriority.Maintenance, options.RequestedBy, Drain: HostId, Cold: cold), HostId);
                    vms[vm.VmId] = vms[vm.VmId] with { State = DrainVmState.Migrating, MigrationId = status.MigrationId, Destination = destination.HostId, Attempts = vm.Attempts + 1, Reason = null };
                    slots--;

                    // Count it on the destination for the rest of this pass, so the next VM sees the capacity taken.
                    ranked.Replace(destination, destination with
                    {
                        Reservations = destination.Reservations.SetItem("drain:" + vm.VmId, OrleansMigrate.Fleet.Placement.Of(record.Spec)),
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
        var domainLabel = S!.Options.DomainLabel;
        var domain = domainLabel is null ? null : Planning.PowerPlanner.DomainOf(source, domainLabel);
        foreach (var host in ranked)
        {
            if (DestinationSelector.Refusal(vm, source, host, [], policy) is { } why)
            {
                refusals[host.HostId] = why;
                continue;
            }

            if (domain is not null && Planning.PowerPlanner.DomainOf(host, domainLabel!) != domain)
            {
                refusals[host.HostId] = $"it is in failure domain '{Planning.PowerPlanner.DomainOf(host, domainLabel!)}', not '{domain}' ({domainLabel})";
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
}
