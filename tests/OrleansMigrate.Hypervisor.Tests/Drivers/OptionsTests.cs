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

    [Theory]
    [InlineData(0, false)]
    [InlineData(-1, false)]
    [InlineData(17, false)]
    [InlineData(1, true)]
    [InlineData(4, true)]
    [InlineData(16, true)]
    public void MigrationChannelsAreOneToSixteenOnBothSidesAndARefusalNamesTheField(int channels, bool valid)
    {
        var source = () => new MigrationOptions { MigrationChannels = channels }.Validate();
        var destination = () => new IncomingMigrationOptions { MigrationChannels = channels }.Validate();
        if (valid)
        {
            source();
            destination();
            return;
        }

        Assert.Equal("MigrationChannels", Assert.Throws<ArgumentException>(source).ParamName);
        Assert.Contains($"MigrationOptions.MigrationChannels is out of range: {channels}", Assert.Throws<ArgumentException>(source).Message, StringComparison.Ordinal);
        Assert.Equal("MigrationChannels", Assert.Throws<ArgumentException>(destination).ParamName);
        Assert.Contains($"IncomingMigrationOptions.MigrationChannels out of range: {channels}", Assert.Throws<ArgumentException>(destination).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OneMigrationChannelIsTheDefault()
    {
        Assert.Equal(1, new MigrationOptions().MigrationChannels);
        Assert.Equal(1, new IncomingMigrationOptions().MigrationChannels);
    }
}
