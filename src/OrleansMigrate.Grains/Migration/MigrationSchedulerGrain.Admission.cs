using System.Collections.Immutable;
using Microsoft.Extensions.Options;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>Admission: the pass that sweeps admitted migrations, asks the admission ledger for slots and starts what it
/// grants; and the destination choice with its reservation on the host's capacity ledger.</summary>
public sealed partial class MigrationSchedulerGrain
{
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
}
