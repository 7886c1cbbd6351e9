using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Tests.Support;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.Simulated;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DirtyRateSamplingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task TheSampledRateIsNearTheWorkloadsRate()
    {
        await using var hosts = new TwoHosts();
        await hosts.BootAsync(Guests.Spec("vm-rate", 32, dirtyMBps: 40));

        var sample = await hosts.Source.SampleDirtyRateAsync("vm-rate", TimeSpan.FromMilliseconds(300)).WaitAsync(Bound);

        Assert.Equal(DirtyRateMethods.SimulatedCounters, sample.Method);
        Assert.Equal("vm-rate", sample.VmId);
        Assert.Equal(32L << 20, sample.MemoryBytes);
        // The workload's rate is known: generous bounds, no timing-tight assertion.
        Assert.InRange(sample.DirtyBytesPerSecond, 20e6, 80e6);
        Assert.True(sample.WindowMs >= 250, $"window {sample.WindowMs} ms");
        Assert.True(sample.DirtiedBytes > 0);
        Assert.True(sample.DirtiedBytes <= sample.MemoryBytes);
        Assert.InRange(sample.ZeroPageFraction!.Value, 0, 1);
        Assert.InRange(sample.CompressionRatio!.Value, 0.01, 1);
        if (sample.WorkingSetBytes is { } workingSet)
            Assert.InRange(workingSet, sample.DirtiedBytes!.Value, sample.MemoryBytes);
    }

    [Fact]
    public async Task AnIdleGuestHasNoDirtyRate()
    {
        await using var hosts = new TwoHosts();
        await hosts.BootAsync(Guests.Spec("vm-idle", 16));

        var sample = await hosts.Source.SampleDirtyRateAsync("vm-idle", TimeSpan.FromMilliseconds(100)).WaitAsync(Bound);

        Assert.Equal(0, sample.DirtyBytesPerSecond);
        Assert.Equal(0, sample.DirtiedBytes);
        Assert.Null(sample.WorkingSetBytes);
        Assert.Null(sample.CompressionRatio);
        // The default content mix has 30 % zero pages; an idle guest keeps them zero.
        Assert.InRange(sample.ZeroPageFraction!.Value, 0.2, 0.4);
    }

    [Fact]
    public async Task SamplingDuringAMigrationLeavesTheMigrationConsistent()
    {
        await using var hosts = new TwoHosts();
        var spec = Guests.Spec("vm-busy", 64, dirtyMBps: 30);
        await hosts.BootAsync(spec);
        // 100 MB/s: the bulk round alone takes about half a second, so the sample overlaps pre-copy.
        var migration = LiveMigration.RunAsync(hosts.Source, hosts.Destination, "vm-busy", new MigrationOptions { LinkBandwidthBytesPerSecond = 100_000_000 });
        await Eventually.TrueAsync(() => hosts.Source.GetSimulatedVm("vm-busy").ToInfo().HasActiveMigration || migration.IsCompleted, TimeSpan.FromSeconds(20), "vm-busy's migration starts");

        var sample = await hosts.Source.SampleDirtyRateAsync("vm-busy", TimeSpan.FromMilliseconds(200)).WaitAsync(Bound);
        var report = await migration.WaitAsync(Bound);

        Assert.True(sample.DirtyBytesPerSecond > 0);
        Assert.NotNull(report.Consistency);
        Assert.True(report.Consistency.Consistent, report.Consistency.Summary);
    }

    [Fact]
    public async Task OnlyARunningKnownVmCanBeSampled()
    {
        await using var hosts = new TwoHosts();
        await hosts.Source.CreateVmAsync(Guests.Spec("vm-created", 16));

        await Assert.ThrowsAsync<VmNotFoundException>(() => hosts.Source.SampleDirtyRateAsync("nope", TimeSpan.FromMilliseconds(10)));
        await Assert.ThrowsAsync<InvalidOperationException>(() => hosts.Source.SampleDirtyRateAsync("vm-created", TimeSpan.FromMilliseconds(10)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => hosts.Source.SampleDirtyRateAsync("vm-created", TimeSpan.Zero));
    }
}
