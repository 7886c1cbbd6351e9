using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Faults;

namespace OrleansMigrate.Tests.Cloud;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class CloudBackendOptionsTests
{
    [Fact]
    public void The_defaults_are_valid_and_as_slow_as_production()
    {
        var defaults = new CloudBackendOptions();

        Assert.Empty(CloudBackendOptionsValidator.Check(defaults));
        Assert.Equal(TimeSpan.FromMilliseconds(600), defaults.FlowInstallTime);
        Assert.True(defaults.DiskCloseMs > 100 * defaults.DiskPauseMs, "a close must cost far more than a pause");
    }

    [Fact]
    public void Out_of_range_latencies_are_refused_naming_each_option()
    {
        var options = new CloudBackendOptions { DiskCloseMs = -1, RelaySwitchMs = CloudBackendOptions.MaxLatencyMs + 1, FlowsPerNic = 0 };

        var errors = CloudBackendOptionsValidator.Check(options);

        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("DiskCloseMs:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("RelaySwitchMs:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("FlowsPerNic:", StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => new SimulatedNetworkManagerBackend(options, NoFaults.Instance, TimeProvider.System));
    }

    [Fact]
    public void A_flow_install_longer_than_the_cap_is_refused()
    {
        var options = new CloudBackendOptions { FlowsPerNic = 1_000, FlowInstallMsPerFlow = 21 };

        Assert.Contains(CloudBackendOptionsValidator.Check(options), e => e.Contains("flow install", StringComparison.Ordinal));
    }

    [Fact]
    public void Registration_keeps_options_and_faults_registered_before_it_and_defaults_the_rest()
    {
        var options = new CloudBackendOptions { DiskCloseMs = 7 };
        var faults = new ScriptedFaults();
        var services = new ServiceCollection();
        services.AddSingleton(options);
        services.AddSingleton<IFaultInjector>(faults);

        using var provider = services.AddOmigCloudBackends().BuildServiceProvider();

        Assert.Same(options, provider.GetRequiredService<CloudBackendOptions>());
        Assert.Same(faults, provider.GetRequiredService<IFaultInjector>());
        Assert.Same(provider.GetRequiredService<SimulatedCloudDiskBackend>(), provider.GetRequiredService<ICloudDiskBackend>());
        Assert.Same(provider.GetRequiredService<SimulatedNetworkManagerBackend>(), provider.GetRequiredService<INetworkManagerBackend>());
        using var defaults = new ServiceCollection().AddOmigCloudBackends().BuildServiceProvider();
        Assert.Same(NoFaults.Instance, defaults.GetRequiredService<IFaultInjector>());
        Assert.Equal(CloudBackendOptions.DefaultDiskCloseMs, defaults.GetRequiredService<CloudBackendOptions>().DiskCloseMs);
    }
}
