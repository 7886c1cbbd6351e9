using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Grains.Operations;

/// <summary>The per-host steps of a campaign pass: each host advanced through drain, upgrade and check, and new drains started while upgraded hosts have room.</summary>
public sealed partial class CampaignGrain
{
    /// <summary>Why a powered-off host is not upgraded: a campaign skips hosts that are off (its drain, upgrade and check
    /// need the machine running), at the start and when its turn comes.</summary>
    internal const string PoweredOffSkip = "powered off: campaigns skip hosts that are off (power it on and run a campaign for it)";

    /// <summary>One host one step further, as far as its current step allows without waiting.</summary>
    private async Task<CampaignHost> AdvanceAsync(CampaignHost h)
    {
        var spec = S!.Spec;
        switch (h.State)
        {
            case CampaignHostState.Draining:
                var drain = await GrainFactory.GetGrain<IHostDrainGrain>(h.HostId).GetAsync();
                if (drain is null || !drain.IsEnded)
                {
                    return h;
                }

                var (drained, action) = CampaignPass.AfterDrain(h, drain, time.GetUtcNow());
                if (action == CampaignHostAction.StartUpgrade)
                {
                    StartUpgrade(h.HostId, spec.FirmwareVersion);
                }
                else if (action == CampaignHostAction.Uncordon)
                {
                    // Aborted, or VMs that cannot move: the host is not upgraded and goes back into service (with them).
                    await GrainFactory.GetGrain<IHostGrain>(h.HostId).SetSchedulingAsync(SchedulingState.Schedulable);
                }

                return drained;

            case CampaignHostState.Upgrading:
                if (!_upgrades.TryGetValue(h.HostId, out var upgrade))
                {
                    // Resumed after a restart: upgrades are idempotent, run it again.
                    StartUpgrade(h.HostId, spec.FirmwareVersion);
                    return h;
                }

                if (!upgrade.IsCompleted)
                {
                    return h;
                }

                _upgrades.Remove(h.HostId);
                if (upgrade.Exception?.GetBaseException() is { } failed)
                {
                    // The host stays empty and in maintenance for an operator to look at.
                    return h with { State = CampaignHostState.Failed, Reason = $"upgrade failed: {failed.Message}", EndedAt = time.GetUtcNow() };
                }

                _upgraded.Add(h.HostId);
                return h with { State = CampaignHostState.Verifying };

            case CampaignHostState.Verifying:
                if (!_upgraded.Contains(h.HostId))
                {
                    StartUpgrade(h.HostId, spec.FirmwareVersion);
                    return h with { State = CampaignHostState.Upgrading };
                }

                HostCheck check;
                try
                {
                    check = await maintenance.CheckAsync(h.HostId, _stopping.Token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    return h with { State = CampaignHostState.Failed, Reason = $"health check failed to run: {ex.Message}", EndedAt = time.GetUtcNow() };
                }

                if (CampaignPass.CheckFailure(check, spec.FirmwareVersion) is { } checkFailed)
                {
                    if (!check.Healthy)
                    {
                        await GrainFactory.GetGrain<IHostGrain>(h.HostId).SetHealthAsync(HostHealth.Degraded);
                    }

                    return h with { State = CampaignHostState.Failed, Reason = checkFailed, EndedAt = time.GetUtcNow() };
                }

                _upgraded.Remove(h.HostId);
                var host = GrainFactory.GetGrain<IHostGrain>(h.HostId);
                await host.SetFirmwareAsync(spec.FirmwareVersion);
                await host.SetSchedulingAsync(SchedulingState.Schedulable);
                // Back in service upgraded: the next destination choices (and this pass's room) should see it now.
                fleetView.Invalidate();
                return h with { State = CampaignHostState.Done, Reason = null, EndedAt = time.GetUtcNow() };

            default:
                return h;
        }
    }

    /// <summary>Starts drains, in order, while fewer than Batch hosts are in maintenance and (unless the spec allows double
    /// moves) while the hosts already on the target version have room for the VMs of the hosts draining and of the next
    /// one: their VMs then go to upgraded hosts and move once. One host starts whenever none is in progress (the first
    /// one, with nothing upgraded yet, or a fleet too full to hold a host's VMs on upgraded hosts), so the campaign always
    /// moves; as hosts come back upgraded and empty the batch grows to its size.</summary>
    private async Task<CampaignStatus> StartHostsAsync(CampaignStatus s)
    {
        var hosts = s.Hosts.ToList();
        var active = hosts.Count(CampaignPass.InProgress);
        if (active >= s.Spec.Batch || !hosts.Any(h => h.State == CampaignHostState.Waiting))
        {
            return s;
        }

        var perDrain = CampaignPass.PerDrain(s.Spec);
        var room = s.Spec.AllowDoubleMoves ? null : await UpgradedRoomAsync(s);
        for (var i = 0; i < hosts.Count && active < s.Spec.Batch; i++)
        {
            if (hosts[i].State != CampaignHostState.Waiting)
            {
                continue;
            }

            if (room is not null && active > 0 && !room.TryTake(hosts[i].HostId))
            {
                break;
            }

            try
            {
                if (await GrainFactory.GetGrain<IHostGrain>(hosts[i].HostId).GetAsync() is { Power: HostPowerState.Off })
                {
                    hosts[i] = hosts[i] with { State = CampaignHostState.Skipped, Reason = PoweredOffSkip, EndedAt = time.GetUtcNow() };
                    continue;
                }

                var drain = GrainFactory.GetGrain<IHostDrainGrain>(hosts[i].HostId);
                var current = await drain.GetAsync();
                if (current is not { IsEnded: false })
                {
                    await drain.StartAsync(new DrainOptions(perDrain, null, s.Spec.FirmwareVersion, 3, $"campaign:{Id}", Campaign: Id));
                }

                hosts[i] = hosts[i] with { State = CampaignHostState.Draining, StartedAt = time.GetUtcNow() };
                active++;
            }
            catch (OmigException ex) when (ex.Code == OmigErrorCode.Unavailable)
            {
                // The database or the drain's silo did not answer: not a reason to skip the host. It stays waiting and the
                // next pass tries again.
                break;
            }
            catch (OmigException ex)
            {
                hosts[i] = hosts[i] with { State = CampaignHostState.Skipped, Reason = ex.Message, EndedAt = time.GetUtcNow() };
            }
        }

        return s with { Hosts = [.. hosts] };
    }

    /// <summary>Free cores and memory on schedulable, healthy hosts on the target version or newer, less what the VMs
    /// on the campaign's hosts in progress use. Both from one snapshot, the silo's host cache (at most a second old): a
    /// VM that moved since is counted on its old host and not yet on its new one, so the two cancel out. Hence hosts in
    /// progress are those draining, upgrading or verifying (a host whose drain just ended still shows its VMs in the
    /// snapshot); hosts just back in service may not count yet, which errs on the side of a smaller batch.</summary>
    private async Task<UpgradedRoom> UpgradedRoomAsync(CampaignStatus s)
    {
        var draining = s.Hosts.Where(CampaignPass.InProgress)
            .Select(h => h.HostId).ToHashSet(StringComparer.Ordinal);
        var view = await fleetView.ViewAsync(TimeSpan.FromSeconds(1));
        var (vcpus, memory) = view.FreeOnOrAbove(s.Spec.FirmwareVersion);
        var room = new UpgradedRoom(view.ById) { Vcpus = vcpus, MemoryMiB = memory };
        foreach (var hostId in draining)
        {
            if (view.ById.TryGetValue(hostId, out var host))
            {
                room.Vcpus -= host.UsedVcpus;
                room.MemoryMiB -= host.UsedMemoryMiB;
            }
        }

        return room;
    }

    private sealed class UpgradedRoom(IReadOnlyDictionary<string, HostRecord> hosts)
    {
        public long Vcpus { get; set; }

        public long MemoryMiB { get; set; }

        /// <summary>Takes the room the host's VMs need, if there is enough.</summary>
        public bool TryTake(string hostId)
        {
            var (vcpus, memory) = hosts.TryGetValue(hostId, out var host) ? (host.UsedVcpus, host.UsedMemoryMiB) : (0, 0L);
            if (vcpus > Vcpus || memory > MemoryMiB)
            {
                return false;
            }

            (Vcpus, MemoryMiB) = (Vcpus - vcpus, MemoryMiB - memory);
            return true;
        }
    }

    /// <summary>Runs the upgrade off the grain's turn; its end wakes the campaign.</summary>
    private void StartUpgrade(string hostId, string version)
    {
        var self = this.AsReference<ICampaignGrain>();
        _upgrades[hostId] = Task.Run(async () =>
        {
            try
            {
                await maintenance.UpgradeAsync(hostId, version, _stopping.Token);
            }
            finally
            {
                _ = self.WakeAsync();
            }
        });
    }
}
