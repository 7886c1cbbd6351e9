using Microsoft.Extensions.Logging;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;

namespace OrleansMigrate.Grains.Agents;

/// <summary>The two host-side steps of a cold move: the guest's shutdown on the source and its boot on the destination.</summary>
public sealed partial class DriverHostRuntime
{
    // Shutdowns in progress by migration id: a guest may take longer to power off than one grain call may last, so the
    // migration asks again (a long poll) until the shutdown it started is done.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task<ShutdownReport>> _shutdowns = new(StringComparer.Ordinal);

    public async Task<ShutdownReport?> ShutdownForMoveAsync(string hostId, string migrationId, string vmId, TimeSpan gracefulTimeout, TimeSpan wait)
    {
        var shutdown = _shutdowns.GetOrAdd(migrationId, _ => Task.Run(() => ShutdownOnceAsync(hostId, migrationId, vmId, gracefulTimeout)));
        try
        {
            await shutdown.WaitAsync(wait);
        }
        catch (TimeoutException) when (!shutdown.IsCompleted)
        {
            // Still shutting down: the migration asks again. (A shutdown that itself failed with a timeout is a failure.)
            return null;
        }
        catch
        {
            // A failed shutdown is not kept: the migration's next call (its retry, or its rollback) starts afresh.
            _shutdowns.TryRemove(KeyValuePair.Create(migrationId, shutdown));
            throw;
        }

        // Answered once: a later call (a replay) finds the VM gone and says it was not running.
        _shutdowns.TryRemove(KeyValuePair.Create(migrationId, shutdown));
        return await shutdown;
    }

    private async Task<ShutdownReport> ShutdownOnceAsync(string hostId, string migrationId, string vmId, TimeSpan gracefulTimeout)
    {
        await faults.BeforeAsync(FaultSteps.AgentColdShutdown, vmId);
        var driver = Driver(hostId);
        var held = await _lifecycle.AcquireAsync(vmId);
        try
        {
            var existing = (await driver.ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == vmId);
            if (existing is not { State: VmState.Running })
            {
                // Nothing runs here (a replay after the shutdown, or a guest that stopped or died): whatever instance is
                // left must not hold the VM's NICs or be taken for it later.
                if (existing is not null)
                {
                    if (existing.HasActiveMigration)
                    {
                        throw OmigException.Conflict("vm", $"VM '{vmId}' is migrating on host '{hostId}'; it cannot be shut down for a cold move");
                    }

                    await driver.DestroyVmAsync(vmId);
                }

                await DetachNicsAsync(vmId);
                return new ShutdownReport(Graceful: true, DateTimeOffset.UtcNow, 0, WasRunning: false);
            }

            ShutdownResult result;
            try
            {
                result = await driver.ShutdownVmAsync(vmId, gracefulTimeout);
            }
            catch (InvalidOperationException ex)
            {
                throw OmigException.Conflict("vm", ex.Message);
            }
            catch (QemuException ex)
            {
                throw OmigException.Unavailable("hypervisor", ex.Message);
            }

            var stopped = DateTimeOffset.UtcNow;
            await DetachNicsAsync(vmId);
            LogColdShutdown(logger, migrationId, vmId, hostId, result.Graceful, result.Elapsed.TotalMilliseconds);
            return new ShutdownReport(result.Graceful, stopped, result.Elapsed.TotalMilliseconds);
        }
        finally
        {
            held.Dispose();
        }
    }

    public async Task<DateTimeOffset> StartMovedAsync(string hostId, string migrationId, OrleansMigrate.Fleet.VmSpec spec,
        IReadOnlyDictionary<string, OrleansMigrate.Fleet.BlockDeviceAttachment>? disks = null)
    {
        await faults.BeforeAsync(FaultSteps.AgentColdStart, spec.VmId);
        await StartVmAsync(hostId, spec, disks);
        if (await VmStateAsync(hostId, spec.VmId) != HypervisorVmState.Running)
        {
            throw OmigException.Unavailable("hypervisor", $"VM '{spec.VmId}' was started on host '{hostId}' but its hypervisor does not run it ({await VmDetailAsync(hostId, spec.VmId) ?? "no instance"})");
        }

        return DateTimeOffset.UtcNow;
    }

    [LoggerMessage(EventId = 3130, Level = LogLevel.Information,
        Message = "Cold move {MigrationId}: VM {VmId} stopped on host {HostId} (graceful {Graceful}) after {ShutdownMs:0.#} ms")]
    private static partial void LogColdShutdown(ILogger logger, string migrationId, string vmId, string hostId, bool graceful, double shutdownMs);
}
