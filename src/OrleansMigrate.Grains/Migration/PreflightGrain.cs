using System.Collections.Immutable;
using System.Globalization;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// Migration preflight: what the scheduler would decide (policy, candidate destinations with the reason for each
/// refusal) plus what the source host predicts from the VM's dirty rate sampled now (rounds, total time, downtime,
/// convergence without throttling). Reserves and moves nothing. Stateless: any control silo runs it, and a sample
/// of a second never blocks the scheduler.
/// </summary>
[ControlPlanePlacement]
[StatelessWorker]
public sealed class PreflightGrain(IOptions<MigrationPolicyOptions> policies) : Grain, IPreflightGrain
{
    public async Task<PreflightReport> RunAsync(MigrationRequest request, int sampleMs)
    {
        ArgumentNullException.ThrowIfNull(request);
        FleetValidation.RequireId("vm", request.VmId);
        if (request.DestinationHost is not null)
        {
            FleetValidation.RequireId("to", request.DestinationHost);
        }

        if (sampleMs is < 100 or > 10_000)
        {
            throw OmigException.Invalid("sample-ms", $"must be between 100 and 10000, got {sampleMs}");
        }

        if (request.Policy is not null && !policies.Value.Policies.ContainsKey(request.Policy))
        {
            throw OmigException.Invalid("policy", $"'{request.Policy}' is not a policy; known: {string.Join(", ", policies.Value.Policies.Keys.Order(StringComparer.Ordinal))}");
        }

        var vm = await GrainFactory.GetGrain<IVmGrain>(request.VmId).GetAsync()
            ?? throw OmigException.NotFound("vm", $"VM '{request.VmId}' does not exist");
        var policy = request.Policy is null ? policies.Value.For(vm.Spec) : policies.Value.Resolve(request.Policy);
        var fleet = GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key);
        var hosts = await fleet.ListHostsAsync();
        var source = hosts.FirstOrDefault(h => h.HostId == vm.HostId)
            ?? throw OmigException.NotFound("vm", $"the host of VM '{vm.VmId}' ('{vm.HostId}') is not registered");
        if (request.DestinationHost is { } named && hosts.All(h => h.HostId != named))
        {
            throw OmigException.NotFound("to", $"host '{named}' is not registered");
        }

        // Candidates: the named destination, or every other host; VM records only where anti-affinity needs them.
        var candidates = hosts.Where(h => h.HostId != source.HostId && (request.DestinationHost is null || h.HostId == request.DestinationHost)).ToList();
        var grouped = vm.Spec.Labels.ContainsKey(DestinationSelector.AntiAffinityLabel);
        var verdicts = new List<PreflightCandidate>();
        foreach (var host in candidates)
        {
            IReadOnlyCollection<VmRecord> peers = grouped
                ? [.. (await Task.WhenAll(host.Vms.Keys.Select(id => GrainFactory.GetGrain<IVmGrain>(id).GetAsync()))).OfType<VmRecord>()]
                : [];
            var why = DestinationSelector.Refusal(vm, source, host, peers, policy);
            verdicts.Add(new PreflightCandidate(host.HostId, why is null, why));
        }

        var allowed = verdicts.Where(v => v.Allowed).Select(v => v.HostId).ToHashSet(StringComparer.Ordinal);
        var best = DestinationSelector.Best(candidates.Where(h => allowed.Contains(h.HostId)))?.HostId;

        PreflightPrediction? prediction = null;
        string? predictionError = null;
        var tuning = policy.Tuning((int)Math.Min(vm.Spec.MemoryMiB, int.MaxValue));
        try
        {
            prediction = await GrainFactory.GetGrain<IHostAgentGrain>(source.HostId).PredictAsync(vm.VmId, tuning, sampleMs);
        }
        catch (Exception ex) when (ex is OmigException or TimeoutException or SiloUnavailableException or OrleansMessageRejectionException)
        {
            predictionError = $"the source host could not sample the VM: {ex.Message}";
        }

        var (go, verdict) = Decide(vm, policy, best, verdicts, prediction, predictionError);
        return new PreflightReport(vm.VmId, source.HostId, policy.Name, policy.DowntimeTargetMs, policy.LinkBandwidthBytesPerSecond, prediction, predictionError,
            [.. verdicts.OrderByDescending(v => v.Allowed).ThenBy(v => v.HostId, StringComparer.Ordinal)], best, go, verdict, vm.Spec.MemoryMiB);
    }

    private static (bool Go, string Verdict) Decide(VmRecord vm, MigrationPolicy policy, string? best, List<PreflightCandidate> candidates, PreflightPrediction? p, string? error)
    {
        if (DestinationSelector.NotMovableNow(vm, policy) is { } unmovable)
        {
            return (false, $"no: {unmovable.Reason}");
        }

        if (best is null)
        {
            return (false, candidates.Count == 0 ? "no: there is no other host" : $"no: none of {candidates.Count} host(s) can take it");
        }

        if (p is null)
        {
            return (false, $"no prediction ({error}); a destination would be {best}");
        }

        string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);
        var summary = $"to {best}: about {F(p.TotalMs)} ms in {p.Rounds} round(s), downtime about {F(p.DowntimeMs)} ms (target {F(policy.DowntimeTargetMs)} ms)";
        if (p.Outcome == "fails")
        {
            return (false, $"no: it would not complete ({p.Reason})");
        }

        if (!p.ConvergesWithoutThrottling)
        {
            return policy.OnStall == StallAction.Abort || policy.OnTimeout == TimeoutAction.Abort
                ? (false, $"no: it would not converge at {F(p.DirtyBytesPerSecond / 1e6)} MB/s dirtied on a {F(policy.LinkBandwidthBytesPerSecond / 1e6)} MB/s link, and policy '{policy.Name}' aborts rather than throttle or force ({summary})")
                : (true, $"yes, but only by {(policy.AutoConverge ? "throttling the guest (auto-converge) or " : "")}raising the downtime target: {summary}");
        }

        return p.DowntimeWithinTarget
            ? (true, $"yes: {summary}")
            : (policy.OnStall == StallAction.Abort ? false : true, $"{(policy.OnStall == StallAction.Abort ? "no" : "yes")}: the downtime would exceed the target: {summary}");
    }
}
