using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.Tests.Drivers;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class OptionsTests
{
    [Fact]
    public void DefaultsAreValidAndCompressOnlyTheFinalCopy()
    {
        var options = new MigrationOptions();
        options.Validate();
        new IncomingMigrationOptions().Validate();

        Assert.Equal(CompressionMode.Final, options.Compression);
        Assert.True(options.PreLastCopy.Enabled);
        Assert.Equal(20, options.DowntimeTargetMs);
    }

    [Fact]
    public void OutOfRangeSettingsAreRejectedWithTheirName()
    {
        Assert.Contains("DowntimeTargetMs", Assert.Throws<ArgumentException>(() => new MigrationOptions { DowntimeTargetMs = 0 }.Validate()).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new MigrationOptions { PreLastCopy = new PreLastCopyOptions { MaxWaitMs = -1 } }.Validate());
        Assert.Throws<ArgumentException>(() => new IncomingMigrationOptions { Port = 70_000 }.Validate());
        Assert.Throws<ArgumentException>(() => new VmSpec { VmId = "x", MemoryMiB = 16, Simulation = new SimulatedGuestOptions { Content = new ContentMix(50, 50, 50) } }.Validate());
    }
}
