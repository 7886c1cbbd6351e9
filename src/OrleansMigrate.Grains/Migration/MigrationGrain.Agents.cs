using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// Calls to the host agents, and what the migration does when one does not answer (its silo is down, or not yet declared
/// dead). Before the commit point the migration rolls back at once. A rollback or roll-forward that needs the agent waits
/// for it in place, asking again every <see cref="AgentWaitOptions.PollInterval"/>, so it goes on the moment the agent is
/// back; meanwhile the status says which host's agent it waits for, since when and until when (<see cref="AgentWait"/>),
/// and the VM's record says its state is unknown when that host is its home. A rollback gives up at the deadline
/// (<c>Omig:AgentWaitTimeoutSeconds</c>): it undoes what it can without that agent and ends failed with what to do.
/// After the commit point there is no deadline: the migration can only roll forward.
/// </summary>
public sealed partial class MigrationGrain
{
    private Task<T> Source<T>(string step, Func<IHostAgentGrain, Task<T>> call) => AgentAsync(S.SourceHost, step, call);

    private Task Source(string step, Func<IHostAgentGrain, Task> call) => AgentAsync(S.SourceHost, step, async a =>
    {
        await call(a);
        return true;
    });

    private Task<T> Destination<T>(string step, Func<IHostAgentGrain, Task<T>> call) => AgentAsync(S.DestinationHost, step, call);

    private Task Destination(string step, Func<IHostAgentGrain, Task> call) => AgentAsync(S.DestinationHost, step, async a =>
    {
        await call(a);
        return true;
    });

    /// <summary>One call to the agent of <paramref name="hostId"/>; <paramref name="step"/> says what for, in the status.</summary>
    private async Task<T> AgentAsync<T>(string hostId, string step, Func<IHostAgentGrain, Task<T>> call)
    {
        var agent = GrainFactory.GetGrain<IHostAgentGrain>(hostId);
        while (true)
        {
            T result;
            try
            {
                if (S.AgentWait?.HostId == hostId && !await AnySiloServesAsync(hostId))
                {
                    // Still no silo for it: a try without a message (the cluster would only refuse it, and log that).
                    throw new OmigException(OmigErrorCode.Unavailable, "host",
                        $"no live silo serves host '{hostId}': start a host silo with --hosts {hostId}, or check 'omig cluster status'");
                }

                result = await call(agent);
            }
            catch (Exception ex) when (AgentErrors.IsUnreachable(ex))
            {
                var silo = S.AgentWait is { HostId: var waited, Silo: { } known } && waited == hostId ? known : DescribeSilo(hostId);
                var error = AgentErrors.Unreachable(hostId, ex, silo);
                if (MigrationPhases.IsBeforeCommit(S.Phase))
                {
                    // Nothing waits before the commit point: the migration rolls back, and the rollback waits.
                    throw new AgentUnreachableException(error);
                }

                await WaitForAgentAsync(hostId, step, error, silo);
                continue;
            }

            if (S.AgentWait is { } wait && wait.HostId == hostId)
            {
                LogAgentBack(logger, Id, hostId, (time.GetUtcNow() - wait.Since).TotalSeconds);
                S.AgentWait = null;
                await SaveAsync();
            }

            return result;
        }
    }

    /// <summary>Records the wait (the first time: persisted, the VM marked unknown), throws once its deadline has passed,
    /// else pauses for the poll interval.</summary>
    private async Task WaitForAgentAsync(string hostId, string step, OmigException error, string? silo)
    {
        var now = time.GetUtcNow();
        if (S.AgentWait is not { } wait || wait.HostId != hostId)
        {
            // Only a rollback gives up: after the commit point the migration can only roll forward.
            DateTimeOffset? deadline = S.Phase == MigrationPhase.RollingBack ? now + agentWait.Value.Timeout : null;
            wait = new AgentWait(hostId, hostId == S.SourceHost ? "source" : "destination", step, now, deadline, error.Reason, 1, now, silo);
            S.AgentWait = wait;
            LogAgentWait(logger, Id, hostId, step, deadline?.ToString("u", System.Globalization.CultureInfo.InvariantCulture) ?? "it answers", error.Reason);
            await MarkVmUnknownAsync(wait);
        }
        else
        {
            // Tries and the time of the last one change on every poll, so watchers hear about the wait while it lasts.
            S.AgentWait = wait = wait with { Step = step, Reason = error.Reason, Tries = wait.Tries + 1, LastTriedAt = now, Silo = wait.Silo ?? silo };
        }

        if (wait.Deadline is { } end && now >= end)
        {
            throw new AgentWaitExpiredException(wait);
        }

        DelayDeactivation(TimeSpan.FromMinutes(10));

        // Every poll interval for the first half minute (a silo restart), then five times less often.
        var pause = now - wait.Since < TimeSpan.FromSeconds(30) ? agentWait.Value.PollInterval : agentWait.Value.PollInterval * 5;
        if (wait.Deadline is { } d && d - now < pause)
        {
            pause = d - now;
        }

        await Task.Delay(pause > TimeSpan.Zero ? pause : TimeSpan.Zero, time);
        if (_deactivating)
        {
            throw new ActivationStoppingException();
        }
    }

    /// <summary>When the host that does not answer is the VM's home, its record says the state is unknown (persisted
    /// first, so the migration's end always records what it knows).</summary>
    private async Task MarkVmUnknownAsync(AgentWait wait)
    {
        var vm = GrainFactory.GetGrain<IVmGrain>(Vm.VmId);
        try
        {
            var record = await vm.GetAsync();
            var mark = record is { Power: PowerState.Running or PowerState.Paused or PowerState.Unknown } && record.HostId == wait.HostId;
            S.VmMarkedUnknown |= mark;
            await SaveAsync();
            if (mark)
            {
                await vm.MarkUnknownAsync(UnknownDetail(wait, gaveUp: false));
            }
        }
        catch (Exception ex)
        {
            // The wait goes on either way; the record is only what operators read.
            LogRetry(logger, Id, "mark-vm-unknown", 1, Describe(ex));
        }
    }

    private string UnknownDetail(AgentWait wait, bool gaveUp) => gaveUp
        ? $"host {wait.HostId}'s agent unreachable since {wait.Since:u}; migration {Id} gave up waiting for it at {time.GetUtcNow():u}. "
          + $"The VM may still run on {wait.HostId}: once that host's silo is back its agent finds the VM (or boots it again) and records it running"
        : $"host {wait.HostId}'s agent unreachable since {wait.Since:u}; migration {Id} waits for it"
          + (wait.Deadline is { } d ? $" until {d:u}" : " (it rolls forward once the agent answers)");

    /// <summary>A VM marked unknown by a wait runs again (the rollback resumed it on the source, or the destination runs it).</summary>
    private async Task ResolveVmPowerAsync()
    {
        if (S.VmMarkedUnknown)
        {
            await Retry("resolve-vm-power", () => GrainFactory.GetGrain<IVmGrain>(Vm.VmId).ResolveUnknownAsync(PowerState.Running));
            S.VmMarkedUnknown = false;
        }
    }

    /// <summary>The rollback waited its time for <paramref name="wait"/>'s agent. Undoes what it can without that agent —
    /// with the source's agent gone: the destination torn down first, then disks handed back and relays disabled — and
    /// ends failed, saying what the operator must do. Returns false when the destination turns out to run the VM already:
    /// then the migration committed, and rolls forward instead.</summary>
    private async Task<bool> GiveUpAsync(AgentWait wait)
    {
        var cause = S.Failure ?? S.CancelReason ?? "rolled back";
        var waited = Duration(time.GetUtcNow() - wait.Since);
        var done = new List<string>();
        var sourceGone = wait.HostId == S.SourceHost;
        if (sourceGone)
        {
            try
            {
                // A direct call, not a new wait: if this agent does not answer either, the failure says so.
                await GrainFactory.GetGrain<IHostAgentGrain>(S.DestinationHost).AbortIncomingAsync(Id, Vm.VmId, cause).WaitAsync(TimeSpan.FromSeconds(30));
                done.Add($"the incoming VM on {S.DestinationHost} torn down");
            }
            catch (OmigException ex) when (ex.Code == OmigErrorCode.Conflict)
            {
                S.Failure = null;
                S.AgentWait = null;
                await MoveAsync(MigrationPhase.PostMigration);
                return false;
            }
            catch (Exception ex)
            {
                done.Add($"the incoming VM on {S.DestinationHost} NOT torn down ({(AgentErrors.IsUnreachable(ex) ? AgentErrors.Describe(S.DestinationHost, ex) : Describe(ex))})");
            }

            try
            {
                await RestoreSourceAsync();
                done.Add($"disks writable on {S.SourceHost} again, relays disabled");
            }
            catch (Exception ex)
            {
                done.Add($"disks and relays NOT restored ({Describe(ex)})");
            }
        }
        else if (await SourceRunsAsync())
        {
            await RollBackWithoutDestinationAsync(cause, wait, waited);
            return true;
        }

        done.Add($"relays removed and the reservation on {S.DestinationHost} released");
        var reason = sourceGone
            ? $"rollback gave up after waiting {waited} (since {wait.Since:u}; Omig:AgentWaitTimeoutSeconds): {wait.Reason}. "
              + $"Done without it: {string.Join("; ", done)}. The VM's state is unknown: it may still run on {S.SourceHost}. Once {S.SourceHost}'s silo is "
              + $"back its agent finds the VM (or boots it again) and records it running; then check 'omig vm show {Vm.VmId}' and 'omig audit'"
            : $"rollback gave up after waiting {waited} (since {wait.Since:u}; Omig:AgentWaitTimeoutSeconds): {wait.Reason}. "
              + $"The VM was not resumed on {S.SourceHost} and its disks were not handed back, because only that agent can say whether the destination "
              + $"already runs it (it must never run twice); {string.Join("; ", done)}. Once {S.DestinationHost}'s silo is back, check "
              + $"'omig vm show {Vm.VmId}' and 'omig audit', and 'omig vm start {Vm.VmId}' if it runs nowhere";
        S.AgentWait = wait;
        if (S.VmMarkedUnknown)
        {
            try
            {
                await GrainFactory.GetGrain<IVmGrain>(Vm.VmId).MarkUnknownAsync(UnknownDetail(wait, gaveUp: true));
            }
            catch (Exception ex)
            {
                LogRetry(logger, Id, "mark-vm-unknown", 1, Describe(ex));
            }
        }

        // The VM stays unknown: only its agent can say whether it runs.
        S.VmMarkedUnknown = false;
        await FailAsync(reason);
        return true;
    }

    /// <summary>Whether the source's agent answers (directly, not as a new wait) that its hypervisor runs the VM.</summary>
    private async Task<bool> SourceRunsAsync()
    {
        try
        {
            return await GrainFactory.GetGrain<IHostAgentGrain>(S.SourceHost).GetVmStateAsync(Vm.VmId).WaitAsync(TimeSpan.FromSeconds(30)) == HypervisorVmState.Running;
        }
        catch (Exception ex)
        {
            LogRetry(logger, Id, "read the source VM's state (giving up)", 1, Describe(ex));
            return false;
        }
    }

    /// <summary>
    /// The destination's agent never answered, and the guest runs on the source: a destination resumes only a guest whose
    /// source paused and sent it everything, and a source runs again after its pause only through a rollback (the rule
    /// <see cref="RollBackAsync"/> relies on), so the destination can never run it. The rollback finishes without that
    /// host: the disks writable on the source alone (the destination's handle closed), the stream stopped, the relays
    /// removed, the reservation released; it ends rolled back, saying that the incoming VM on the unreachable host was not
    /// torn down.
    /// </summary>
    private async Task RollBackWithoutDestinationAsync(string cause, AgentWait wait, string waited)
    {
        await RestoreSourceAsync();
        await Retry("cancel-outgoing", () => GrainFactory.GetGrain<IHostAgentGrain>(S.SourceHost).CancelOutgoingAsync(Id, Vm.VmId, cause));
        await Task.WhenAll(Vm.Nics.Select(n => Retry($"relay {n.Ip} remove", () => GrainFactory.GetGrain<IVpcFlowTableGrain>(n.VpcId).RemoveRelayAsync(n.Ip, Id))));
        await Retry("release-reservation", () => GrainFactory.GetGrain<IHostGrain>(S.DestinationHost).ReleaseAsync(Id));
        await ResolveVmPowerAsync();
        S.Failure = $"{cause}. The rollback waited {waited} for {S.DestinationHost}'s agent (Omig:AgentWaitTimeoutSeconds): {wait.Reason}. The VM runs on {S.SourceHost}, its disks writable there "
            + $"alone, so the rollback finished without {S.DestinationHost}: the incoming VM there was not torn down and can never resume (if that "
            + $"host's QEMU outlived its silo, it waits for a stream that will not come: stop it on {S.DestinationHost})";
        S.AgentWait = null;
        await MoveAsync(MigrationPhase.RolledBack);
        Ended("rolled_back");
    }

    private async Task<bool> AnySiloServesAsync(string hostId)
    {
        try
        {
            return ServiceProvider.GetService<SiloDirectory>() is not { } silos || await silos.AnyServesAsync(hostId);
        }
        catch (Exception)
        {
            // When in doubt, ask the agent.
            return true;
        }
    }

    /// <summary>Notes which silo serves each of the two hosts while they are alive (kept in the state, written with the next
    /// save): by the time a call to a dead silo fails, the cluster has forgotten which hosts it served, and the activation
    /// that noted it may be gone too.</summary>
    private void RememberAgentSilos()
    {
        DescribeSilo(S.SourceHost);
        DescribeSilo(S.DestinationHost);
    }

    /// <summary>"silo silo-b at 127.0.0.1:11112" for the silo serving <paramref name="hostId"/>, or the last one noted, or null.</summary>
    private string? DescribeSilo(string hostId)
    {
        try
        {
            if (ServiceProvider.GetService<SiloDirectory>()?.Describe(hostId) is { } now)
            {
                if (hostId == S.SourceHost)
                {
                    S.SourceSilo = now;
                }
                else if (hostId == S.DestinationHost)
                {
                    S.DestinationSilo = now;
                }

                return now;
            }
        }
        catch (Exception)
        {
            // Only for messages.
        }

        return hostId == S.SourceHost ? S.SourceSilo : hostId == S.DestinationHost ? S.DestinationSilo : null;
    }

    private static string Duration(TimeSpan t) => t.TotalSeconds < 90
        ? $"{t.TotalSeconds:0} s"
        : t.TotalMinutes < 90 ? $"{t.TotalMinutes:0.#} min" : $"{t.TotalHours:0.#} h";

    /// <summary>An agent did not answer before the commit point: the migration rolls back with <see cref="Error"/> as the reason.</summary>
    private sealed class AgentUnreachableException(OmigException error) : Exception(error.Reason, error)
    {
        public OmigException Error { get; } = error;
    }

    /// <summary>The activation is being deactivated (its silo stops, or the cluster lost its directory entry) while waiting.</summary>
    private sealed class ActivationStoppingException() : Exception("the activation is stopping");

    /// <summary>A rollback's wait for an agent ran past its deadline.</summary>
    private sealed class AgentWaitExpiredException(AgentWait wait) : Exception($"gave up waiting for host {wait.HostId}'s agent")
    {
        public AgentWait Wait { get; } = wait;
    }
}
