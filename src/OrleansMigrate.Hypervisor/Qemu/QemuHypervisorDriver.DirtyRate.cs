using System.Globalization;
using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>Dirty-rate sampling of a running guest with QEMU's own <c>calc-dirty-rate</c>.</summary>
public sealed partial class QemuHypervisorDriver
{
    /// <summary>Pages per GiB QEMU hashes for <see cref="SampleDirtyRateAsync"/>: QEMU's maximum (its range is 128..4096, default 512).</summary>
    public const int DirtyRateSamplePagesPerGiB = 4096;

    /// <summary>
    /// QEMU's <c>calc-dirty-rate</c> in <c>page-sampling</c> mode (<see cref="DirtyRateSamplePagesPerGiB"/> pages per
    /// GiB hashed at the start and the end), then <c>query-dirty-rate</c> polled every 100 ms until <c>measured</c>.
    /// QEMU 7.2 measures whole seconds (<c>calc-time</c> ≥ 1), so the window is rounded up. Page sampling only
    /// hashes guest RAM, so it is safe while a migration runs (it does not touch the migration's dirty log);
    /// <c>dirty-bitmap</c> mode is not used because it hung QEMU 7.2 under TCG on this project's hosts. The
    /// reported rate is QEMU's MiB/s × 2^20; QEMU reports no working set, zero-page share or compression ratio.
    /// One measurement per driver at a time (QEMU keeps one global measurement state).
    /// </summary>
    /// <exception cref="TimeoutException">QEMU did not report <c>measured</c> within the window plus 10 s.</exception>
    public async Task<DirtyRateSample> SampleDirtyRateAsync(string vmId, TimeSpan window, CancellationToken cancellationToken = default)
    {
        if (window <= TimeSpan.Zero || window > TimeSpan.FromMinutes(1))
            throw new ArgumentOutOfRangeException(nameof(window), window, "The sampling window must be more than 0 and at most 1 minute.");
        var vm = Get(vmId);
        if (vm.State != VmState.Running)
            throw new InvalidOperationException($"VM '{vmId}' is {vm.State}; only a running VM has a dirty rate to sample.");
        if (vm.Process is not { } process || process.Exited.IsCompleted)
            throw new InvalidOperationException($"VM '{vmId}' has no running QEMU.");
        var calcSeconds = Math.Max(1, (int)Math.Ceiling(window.TotalSeconds - 1e-9));
        await _sampling.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var started = TimeProvider.GetTimestamp();
            await process.ExecuteAsync("calc-dirty-rate", new JsonObject
            {
                ["calc-time"] = calcSeconds,
                ["sample-pages"] = DirtyRateSamplePagesPerGiB,
                ["mode"] = "page-sampling",
            }, cancellationToken).ConfigureAwait(false);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(calcSeconds + 10));
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(calcSeconds), TimeProvider, deadline.Token).ConfigureAwait(false);
                while (true)
                {
                    var info = await process.ExecuteAsync("query-dirty-rate", cancellationToken: deadline.Token).ConfigureAwait(false);
                    if (info?["status"]?.GetValue<string>() == "measured")
                    {
                        var mibPerSecond = info["dirty-rate"]?.GetValue<long>() ?? 0;
                        var measuredSeconds = info["calc-time"]?.GetValue<long>() ?? calcSeconds;
                        var samples = info["sample-pages"]?.GetValue<long>() ?? DirtyRateSamplePagesPerGiB;
                        return new DirtyRateSample(
                            vmId,
                            DirtyRateMethods.QemuCalcDirtyRate,
                            mibPerSecond * (double)(1 << 20),
                            measuredSeconds * 1000.0,
                            (long)vm.Spec.MemoryMiB << 20,
                            DirtiedBytes: null,
                            WorkingSetBytes: null,
                            ZeroPageFraction: null,
                            CompressionRatio: null,
                            string.Create(CultureInfo.InvariantCulture,
                                $"calc-dirty-rate page-sampling, {samples} sample pages per GiB, calc-time {measuredSeconds} s: {mibPerSecond} MiB/s; wall {TimeProvider.GetElapsedTime(started).TotalMilliseconds:F0} ms"));
                    }

                    await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider, deadline.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or QmpTimeoutException && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"QEMU did not finish measuring the dirty rate of '{vmId}' within {calcSeconds + 10} s.", ex);
            }
        }
        finally
        {
            _sampling.Release();
        }
    }
}
