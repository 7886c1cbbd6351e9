using Microsoft.Extensions.Logging;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Agents;

/// <summary>The incoming side of a migration, on its destination host: the guest prepared to receive, resumed, checked, and released or aborted.</summary>
public sealed partial class DriverHostRuntime
{
    public async Task<IncomingEndpoint> PrepareIncomingAsync(string hostId, string migrationId, OrleansMigrate.Fleet.VmSpec spec, MigrationTuning? tuning = null,
        IReadOnlyDictionary<string, OrleansMigrate.Fleet.BlockDeviceAttachment>? disks = null)
    {
        var held = await _lifecycle.AcquireAsync(spec.VmId);
        try
        {
            if (_incoming.TryGetValue(migrationId, out var known))
            {
                return new IncomingEndpoint(known.Endpoint.Host, known.Endpoint.Port, hostId, StartSessionsIn(migrationId, spec, tuning));
            }

            await faults.BeforeAsync(FaultSteps.AgentPrepareIncoming, spec.VmId);
            var driver = Driver(hostId);
            var existing = (await driver.ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == spec.VmId);
            if (existing is { State: VmState.Running or VmState.Paused })
            {
                throw OmigException.Conflict("vm", $"VM '{spec.VmId}' already runs on host '{hostId}'");
            }

            if (existing is not null)
            {
                await driver.DestroyVmAsync(spec.VmId);
            }

            var hv = Spec(spec, disks);
            await AttachNicsAsync(spec);
            await driver.CreateVmAsync(hv);
            var incoming = await driver.PrepareIncomingAsync(spec.VmId, new IncomingMigrationOptions
            {
                ListenAddress = _options.ListenAddress,
                VerifyConsistency = _options.VerifyConsistency,
                MigrationChannels = Channels(tuning),
                PostCopy = tuning?.PostCopy ?? false,
            });
            _incoming[migrationId] = incoming;
            return new IncomingEndpoint(incoming.Endpoint.Host, incoming.Endpoint.Port, hostId, StartSessionsIn(migrationId, spec, tuning));
        }
        finally
        {
            held.Dispose();
        }
    }

    public async Task<ResumeReport> ResumeIncomingAsync(string hostId, string migrationId)
    {
        Lazy<Task<ResumeReport>> resume;

        // The migration names its VM; the lookup before the lock only finds which VM's lock to take.
        var held = await _lifecycle.AcquireAsync(Incoming(hostId, migrationId).VmId);
        try
        {
            // Decided under the VM's lifecycle lock (the one abort takes), so an abort and a resume of one migration never both win.
            var incoming = Incoming(hostId, migrationId);

            resume = _resumes.GetOrAdd(migrationId, _ => new Lazy<Task<ResumeReport>>(async () =>
            {
                await incoming.Received;
                await WaitFinalSessionsAsync(migrationId);
                await faults.BeforeAsync(FaultSteps.AgentResume, incoming.VmId);
                var resumed = await incoming.ResumeAsync();
                return new ResumeReport(resumed.ResumedAtUtc, null);
            }));
        }
        finally
        {
            held.Dispose();
        }

        return await resume.Value;
    }

    public async Task<DateTimeOffset> WaitReceivedAsync(string hostId, string migrationId)
    {
        await Incoming(hostId, migrationId).Received;
        return DateTimeOffset.UtcNow;
    }

    public async Task<GuestCheck> VerifyIncomingAsync(string hostId, string migrationId)
    {
        if (!_incoming.TryGetValue(migrationId, out var incoming))
        {
            return GuestCheck.NotChecked($"host {hostId}'s agent no longer holds the incoming side (released earlier, or the agent restarted)");
        }

        GuestCheck result;
        if (!_options.VerifyConsistency)
        {
            result = GuestCheck.NotChecked("the check is off on this host (HostRuntime:VerifyConsistency=false)");
        }
        else
        {
            try
            {
                var check = await incoming.Consistency.WaitAsync(TimeSpan.FromSeconds(20));
                result = check is null
                    ? GuestCheck.NotChecked(IsQemu ? "the guest is not one we can read (no dirtying-guest header in its memory)"
                        : IsAnalytic ? "the analytic driver models memory: there is no content to read"
                        : "the driver made no check")
                    : new GuestCheck(check.Consistent ? GuestCheckVerdict.Consistent : GuestCheckVerdict.Inconsistent, check.Summary);
            }
            catch (Exception ex) when (ex is not OmigException)
            {
                // The check could not run (the guest moved during it, QEMU went away, it timed out): that is "not
                // checked", not "inconsistent", and must not hold the roll-forward forever.
                LogCheckFailed(logger, migrationId, ex.Message);
                result = GuestCheck.NotChecked($"the check could not run: {ex.Message}");
            }

            if (result.Verdict == GuestCheckVerdict.Inconsistent)
            {
                LogInconsistent(logger, migrationId, result.Detail);
            }
        }

        if (_incoming.TryRemove(migrationId, out _))
        {
            await incoming.DisposeAsync();
        }

        EndSessions(migrationId);

        _resumes.TryRemove(migrationId, out _);
        return result;
    }

    public async Task AbortIncomingAsync(string hostId, string migrationId, string vmId, string reason)
    {
        var held = await _lifecycle.AcquireAsync(vmId);
        try
        {
            if (_resumes.TryGetValue(migrationId, out var resume))
            {
                // A resume was asked for: it either ran the guest (then this migration can only roll
                // forward) or failed before doing so (whatever it failed with: a hypervisor error, a fault, or
                // the final session round that never came), and then the abort goes on.
                bool resumed;
                try
                {
                    await resume.Value;
                    resumed = true;
                }
                catch (Exception)
                {
                    resumed = false;
                    _resumes.TryRemove(migrationId, out _);
                }

                if (resumed)
                {
                    throw OmigException.Conflict("migration", $"migration '{migrationId}' has resumed the VM on '{hostId}': it can only roll forward");
                }
            }

            var driver = Driver(hostId);
            var vm = (await driver.ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == vmId);
            if (vm is { State: VmState.Running or VmState.Paused } && !_incoming.ContainsKey(migrationId))
            {
                // The guest runs here with no incoming side left: the migration committed and was verified.
                // Resuming the source now would run the VM twice.
                throw OmigException.Conflict("migration", $"VM '{vmId}' runs on '{hostId}' and migration '{migrationId}' is no longer incoming: it can only roll forward");
            }

            if (_incoming.TryRemove(migrationId, out var incoming))
            {
                await incoming.AbortAsync(reason);
                await incoming.DisposeAsync();
            }

            // The VM stays on the source: the sessions copied here are taken out of this host's conntrack again.
            EndSessions(migrationId, removeCopied: true);

            if (vm is not null)
            {
                await driver.DestroyVmAsync(vmId);
            }

            // The VM runs on the source: this host's taps for it go (their routes with them).
            await DetachNicsAsync(vmId);
        }
        finally
        {
            held.Dispose();
        }
    }

    private IIncomingMigration Incoming(string hostId, string migrationId) =>
        _incoming.TryGetValue(migrationId, out var incoming)
            ? incoming
            : throw OmigException.NotFound("migration", $"no incoming migration '{migrationId}' on host '{hostId}' (aborted, or its silo restarted)");

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Migration {MigrationId}: the destination guest could not be checked: {Reason}")]
    private static partial void LogCheckFailed(ILogger logger, string migrationId, string reason);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "Migration {MigrationId}: the destination guest failed its consistency check: {Summary}")]
    private static partial void LogInconsistent(ILogger logger, string migrationId, string summary);
}
