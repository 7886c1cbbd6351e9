using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Tests.Hosting;

/// <summary><c>Omig:Admission:…</c> and <c>Omig:CloudLatencyScale</c>: what a silo process needs to run the campaign
/// bench's settings (<c>omig bench campaign --silos N</c>).</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class AdmissionAndCloudLatencyOptionsTests
{
    [Fact]
    public void Unset_admission_limits_keep_the_defaults_and_set_ones_replace_them()
    {
        var defaults = new MigrationAdmissionOptions();
        var options = new MigrationAdmissionOptions();
        new AdmissionSettings().ApplyTo(options);
        Assert.Equal((defaults.MaxPerCluster, defaults.MaxOutboundPerHost, defaults.MaxInboundPerHost), (options.MaxPerCluster, options.MaxOutboundPerHost, options.MaxInboundPerHost));

        new AdmissionSettings { MaxPerCluster = 400, MaxOutboundPerHost = 8 }.ApplyTo(options);
        Assert.Equal((400, 8, defaults.MaxInboundPerHost), (options.MaxPerCluster, options.MaxOutboundPerHost, options.MaxInboundPerHost));
    }

    [Theory]
    [InlineData(0, null, null, "Omig:Admission:MaxPerCluster:")]
    [InlineData(10_001, null, null, "Omig:Admission:MaxPerCluster:")]
    [InlineData(null, 65, null, "Omig:Admission:MaxOutboundPerHost:")]
    [InlineData(null, null, 0, "Omig:Admission:MaxInboundPerHost:")]
    public void Admission_limits_out_of_range_are_refused_naming_the_key(int? cluster, int? outbound, int? inbound, string key) =>
        Assert.Contains(OmigSiloOptionsValidator.Check(new OmigSiloOptions { Admission = new AdmissionSettings { MaxPerCluster = cluster, MaxOutboundPerHost = outbound, MaxInboundPerHost = inbound } }),
            e => e.StartsWith(key, StringComparison.Ordinal));

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void A_cloud_latency_scale_out_of_range_is_refused(double scale) =>
        Assert.Contains(OmigSiloOptionsValidator.Check(new OmigSiloOptions { CloudLatencyScale = scale }), e => e.StartsWith("Omig:CloudLatencyScale:", StringComparison.Ordinal));

    [Fact]
    public void A_silo_gets_the_scaled_cloud_latencies_and_its_admission_limits()
    {
        var services = new ServiceCollection();
        var silo = new TestSiloBuilder(services);
        silo.UseOrleansMigrate(new OmigSiloOptions { CloudLatencyScale = 0.001, Admission = new AdmissionSettings { MaxPerCluster = 400, MaxInboundPerHost = 4 } });
        using var provider = services.BuildServiceProvider();
        var cloud = provider.GetRequiredService<CloudBackendOptions>();
        Assert.Equal(2, cloud.DiskCloseMs);
        Assert.Equal(0, cloud.DiskOpenReadOnlyMs);
        var admission = provider.GetRequiredService<IOptions<MigrationAdmissionOptions>>().Value;
        Assert.Equal((400, 4), (admission.MaxPerCluster, admission.MaxInboundPerHost));
    }

    [Fact]
    public void A_silo_without_the_settings_keeps_the_production_latencies()
    {
        var services = new ServiceCollection();
        new TestSiloBuilder(services).UseOrleansMigrate(new OmigSiloOptions());
        using var provider = services.BuildServiceProvider();
        Assert.Equal(CloudBackendOptions.DefaultDiskCloseMs, provider.GetRequiredService<CloudBackendOptions>().DiskCloseMs);
        Assert.Equal(new MigrationAdmissionOptions().MaxPerCluster, provider.GetRequiredService<IOptions<MigrationAdmissionOptions>>().Value.MaxPerCluster);
    }

    private sealed class TestSiloBuilder(IServiceCollection services) : ISiloBuilder
    {
        public IServiceCollection Services { get; } = services;

        public Microsoft.Extensions.Configuration.IConfiguration Configuration { get; } = new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build();
    }
}
