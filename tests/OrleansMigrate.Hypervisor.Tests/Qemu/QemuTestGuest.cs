using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

/// <summary>Bounded checks of a running <see cref="DirtyGuest"/> under the QEMU driver.</summary>
internal static class QemuTestGuest
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    /// <summary>Waits (at most 20 s) until the guest completed <paramref name="passes"/> passes; the snapshot must be consistent.</summary>
    public static async Task<DirtyGuest.Header> WaitForPassesAsync(QemuHypervisorDriver driver, string vmId, uint passes)
    {
        var check = await Eventually.UntilAsync(() => driver.CheckDirtyGuestAsync(vmId).WaitAsync(Bound),
            c => c is { } done && done.Header.PassesCompleted >= passes, TimeSpan.FromSeconds(20),
            $"the guest completes {passes} passes", TimeSpan.FromMilliseconds(100));
        Assert.True(check!.Value.Report.Consistent, check.Value.Report.Summary);
        return check.Value.Header;
    }

    /// <summary>
    /// Checks the guest twice (or more, 100 ms apart for at most 5 s, until it moved): every snapshot consistent,
    /// the first at or past <paramref name="notBefore"/>, and the position growing — the guest runs.
    /// </summary>
    public static async Task<DirtyGuest.Header> AssertAdvancesConsistentlyAsync(QemuHypervisorDriver driver, string vmId, uint notBefore = 0)
    {
        var first = await driver.CheckDirtyGuestAsync(vmId).WaitAsync(Bound);
        Assert.NotNull(first);
        Assert.True(first.Value.Report.Consistent, first.Value.Report.Summary);
        Assert.True(first.Value.Header.Position >= notBefore, $"position {first.Value.Header.Position} is behind {notBefore}");
        return await Eventually.UntilAsync(async () =>
            {
                var next = await driver.CheckDirtyGuestAsync(vmId).WaitAsync(Bound);
                Assert.NotNull(next);
                Assert.True(next.Value.Report.Consistent, next.Value.Report.Summary);
                Assert.True(next.Value.Header.Position >= first.Value.Header.Position, "the guest went back in time");
                return next.Value.Header;
            }, header => header.Position > first.Value.Header.Position, TimeSpan.FromSeconds(5),
            $"the guest advances past position {first.Value.Header.Position}", TimeSpan.FromMilliseconds(100));
    }

    /// <summary>Waits (bounded) until pre-copy has sent bytes, i.e. the migration is really under way.</summary>
    public static async Task WaitForPreCopyAsync(IOutgoingMigration outgoing)
    {
        await Eventually.TrueAsync(() => outgoing.GetProgress().BytesSent > 0, TimeSpan.FromSeconds(20), "pre-copy sends its first bytes");
        Assert.Equal(OutgoingMigrationState.PreCopy, outgoing.State);
    }

    /// <summary>Boots the test guest on <paramref name="source"/> (one pass done), prepares <paramref name="destination"/>
    /// and starts the migration under <paramref name="options"/>; returns once pre-copy has sent bytes.</summary>
    public static async Task<(IIncomingMigration Incoming, IOutgoingMigration Outgoing)> StartPreCopyAsync(QemuEnvironment env, QemuHypervisorDriver source,
        QemuHypervisorDriver destination, string vmId, MigrationOptions options, IncomingMigrationOptions? incomingOptions = null)
    {
        await source.CreateVmAsync(env.Spec(vmId));
        await source.StartVmAsync(vmId);
        await WaitForPassesAsync(source, vmId, 1);
        await destination.CreateVmAsync(env.Spec(vmId));
        var incoming = await destination.PrepareIncomingAsync(vmId, incomingOptions ?? new IncomingMigrationOptions());
        var outgoing = await source.StartOutgoingAsync(vmId, incoming.Endpoint, options);
        await WaitForPreCopyAsync(outgoing);
        return (incoming, outgoing);
    }

    /// <summary>True once no process with this id exists (it exited and was reaped).</summary>
    public static bool ProcessGone(int pid) => !Directory.Exists($"/proc/{pid}");

    /// <summary>A migration that cannot converge: a 0.1 ms downtime target over a 20 MB/s link while the guest dirties.</summary>
    public static MigrationOptions NonConverging => new() { DowntimeTargetMs = 0.1, LinkBandwidthBytesPerSecond = 20_000_000 };

    /// <summary>A migration that converges quickly.</summary>
    public static MigrationOptions Converging => new() { DowntimeTargetMs = 50, LinkBandwidthBytesPerSecond = 1_000_000_000 };
}
