using System.Globalization;
using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>The test-guest check: a <see cref="DirtyGuest"/>'s memory read with <c>pmemsave</c> while it stands still, and verified.</summary>
public sealed partial class QemuHypervisorDriver
{
    /// <summary>
    /// Checks a running <see cref="DirtyGuest"/>: pauses it, reads its header and region with <c>pmemsave</c> into
    /// the runtime directory, resumes it, and verifies the snapshot. Null when the guest is not ours (no magic), found
    /// without pausing it.
    /// </summary>
    public async Task<(ConsistencyReport Report, DirtyGuest.Header Header)?> CheckDirtyGuestAsync(string vmId, CancellationToken cancellationToken = default)
    {
        var vm = Get(vmId);
        if (vm.Process is not { } process || process.Exited.IsCompleted)
            throw new InvalidOperationException($"VM '{vmId}' has no running QEMU.");
        return await CheckDirtyGuestAsync(process, cancellationToken).ConfigureAwait(false);
    }

    internal async Task<(ConsistencyReport Report, DirtyGuest.Header Header)?> CheckDirtyGuestAsync(QemuProcess process, CancellationToken cancellationToken)
    {
        // Unique across drivers: two drivers of one process may share the runtime directory (and their sequences).
        var dumpPath = Path.Combine(RuntimeDirectory(), $"dump-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}.bin");

        // One check at a time per QEMU: a second one could `cont` the guest while the first still reads it.
        await process.GuestCheckLock.WaitAsync(cancellationToken).ConfigureAwait(false);

        var wasRunning = false;
        var stopSent = false;
        try
        {
            // Ask QEMU, not RunState: the STOP/RESUME events of our own last stop/cont may still be in the pump. The
            // guest is stopped unconditionally (a no-op when paused) and resumed only if it ran.
            var status = await process.ExecuteAsync("query-status", cancellationToken: cancellationToken).ConfigureAwait(false);
            wasRunning = status?["running"]?.GetValue<bool>() == true;

            // Whether the guest is ours is read first, without stopping it (its magic never changes): a guest that is not
            // (a Linux guest) is never paused by a check it cannot pass.
            if (wasRunning && await ReadHeaderAsync(process, dumpPath, cancellationToken).ConfigureAwait(false) is null)
                return null;

            stopSent = true;
            await process.ExecuteAsync("stop", cancellationToken: cancellationToken).ConfigureAwait(false);
            var stopped = (await process.ExecuteAsync("query-status", cancellationToken: cancellationToken).ConfigureAwait(false))?["running"]?.GetValue<bool>();
            if (stopped != false)
                throw new QemuException("the guest check could not stop the guest (query-status still reports it running)");

            // Header, region, header again: equal headers prove the snapshot was taken of a guest standing still.
            var header = await ReadHeaderAsync(process, dumpPath, cancellationToken).ConfigureAwait(false);
            if (header is null)
                return null;
            await PmemSaveAsync(process, header.Base, header.RegionBytes, dumpPath, cancellationToken).ConfigureAwait(false);
            var region = await File.ReadAllBytesAsync(dumpPath, cancellationToken).ConfigureAwait(false);
            var after = await ReadHeaderAsync(process, dumpPath, cancellationToken).ConfigureAwait(false);
            if (after != header)
                throw new QemuException($"the guest moved during its check (position {header.Position} then {after?.Position}): not a snapshot");
            return (DirtyGuest.Verify(header, region), header);
        }
        finally
        {
            try
            {
                if (stopSent && wasRunning && !process.Exited.IsCompleted)
                    await process.ExecuteAsync("cont", cancellationToken: CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                File.Delete(dumpPath);
                process.GuestCheckLock.Release();
            }
        }
    }

    private static async Task<DirtyGuest.Header?> ReadHeaderAsync(QemuProcess process, string dumpPath, CancellationToken cancellationToken)
    {
        await PmemSaveAsync(process, DirtyGuest.HeaderAddress, DirtyGuest.HeaderBytes, dumpPath, cancellationToken).ConfigureAwait(false);
        return DirtyGuest.ReadHeader(await File.ReadAllBytesAsync(dumpPath, cancellationToken).ConfigureAwait(false));
    }

    internal static async Task PmemSaveAsync(QemuProcess process, long address, long size, string path, CancellationToken cancellationToken) =>
        await process.ExecuteAsync("pmemsave", new JsonObject { ["val"] = address, ["size"] = size, ["filename"] = path }, cancellationToken).ConfigureAwait(false);
}
