using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using static OrleansMigrate.Hypervisor.Tests.Qemu.QemuTestGuest;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

[Collection("qemu")]
[Trait(TestCategory.Trait, TestCategory.Qemu)]
public sealed class QemuDirtyRateTests(QemuEnvironment env) : IDisposable
{
    public void Dispose() => env.EndTest();

    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task CalcDirtyRateSeesTheDirtyingGuest()
    {
        await using var driver = new QemuHypervisorDriver("rate", env.Options());
        await driver.CreateVmAsync(env.Spec("vm-rate"));
        await driver.StartVmAsync("vm-rate");
        await WaitForPassesAsync(driver, "vm-rate", 1);

        // Under a second: QEMU 7.2 measures whole seconds, so the window is rounded up.
        var sample = await driver.SampleDirtyRateAsync("vm-rate", TimeSpan.FromMilliseconds(500)).WaitAsync(Bound);

        Assert.Equal(DirtyRateMethods.QemuCalcDirtyRate, sample.Method);
        Assert.Equal(1000, sample.WindowMs);
        Assert.Equal(64L << 20, sample.MemoryBytes);
        Assert.True(sample.DirtyBytesPerSecond > 0, $"no dirty rate measured: {sample.Detail}");
        Assert.True(sample.DirtyBytesPerSecond <= 2.0 * sample.MemoryBytes, $"{sample.DirtyBytesPerSecond} B/s for a 64 MiB guest over one second: {sample.Detail}");
        Assert.Contains("page-sampling", sample.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SamplingDuringPreCopyLeavesTheMigrationConsistent()
    {
        await using var source = new QemuHypervisorDriver("rate-src", env.Options());
        await using var destination = new QemuHypervisorDriver("rate-dst", env.Options());
        await source.CreateVmAsync(env.Spec("vm-rate-mig"));
        await source.StartVmAsync("vm-rate-mig");
        await WaitForPassesAsync(source, "vm-rate-mig", 1);
        await destination.CreateVmAsync(env.Spec("vm-rate-mig"));
        var incoming = await destination.PrepareIncomingAsync("vm-rate-mig", new IncomingMigrationOptions { VerifyConsistency = true });
        var outgoing = await source.StartOutgoingAsync("vm-rate-mig", incoming.Endpoint, NonConverging);
        await WaitForPreCopyAsync(outgoing);

        // page-sampling only hashes guest RAM: the migration's dirty log is not touched.
        var sample = await source.SampleDirtyRateAsync("vm-rate-mig", TimeSpan.FromSeconds(1)).WaitAsync(Bound);
        Assert.True(sample.DirtyBytesPerSecond > 0, $"no dirty rate measured during pre-copy: {sample.Detail}");

        outgoing.SetDowntimeTarget(5000);
        await outgoing.PreSwitchover.WaitAsync(Bound);
        await outgoing.FinalCopyAsync().WaitAsync(Bound);
        await incoming.Received.WaitAsync(Bound);
        await incoming.ResumeAsync().WaitAsync(Bound);
        await outgoing.CompleteAsync().WaitAsync(Bound);
        var consistency = await incoming.Consistency.WaitAsync(Bound);
        Assert.NotNull(consistency);
        Assert.True(consistency.Consistent, consistency.Summary);
    }

    [Fact]
    public async Task OnlyARunningGuestCanBeSampled()
    {
        await using var driver = new QemuHypervisorDriver("rate-created", env.Options());
        await driver.CreateVmAsync(env.Spec("vm-created"));

        await Assert.ThrowsAsync<InvalidOperationException>(() => driver.SampleDirtyRateAsync("vm-created", TimeSpan.FromSeconds(1)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => driver.SampleDirtyRateAsync("vm-created", TimeSpan.FromMinutes(2)));
    }
}
