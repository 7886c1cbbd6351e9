using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Cloud.Nbd;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Tests.Cloud.Nbd;

/// <summary><c>Omig:Cloud:Disk:*</c>: binding, the refusals naming their key, and which block store a silo gets.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class NbdDiskOptionsTests
{
    [Fact]
    public void The_options_bind_from_the_silo_configuration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Omig:Cloud:Disk:Backend"] = "nbd",
            ["Omig:Cloud:Disk:Nbd:QmpSocket"] = "/run/omig/qsd.sock",
            ["Omig:Cloud:Disk:Nbd:ServerHost"] = "10.77.0.2",
            ["Omig:Cloud:Disk:Nbd:ServerPort"] = "10810",
            ["Omig:Cloud:Disk:Nbd:ImageDirectory"] = "/var/lib/omig/disks",
            ["Omig:Cloud:Disk:Nbd:ImageSizeMiB"] = "128",
        }).Build();
        var options = new OmigSiloOptions();
        configuration.GetSection(OmigSiloOptions.Section).Bind(options, o => o.ErrorOnUnknownConfiguration = true);

        var nbd = options.Cloud.Disk.Nbd;
        Assert.True(options.Cloud.Disk.UsesNbd);
        Assert.Equal(("/run/omig/qsd.sock", "10.77.0.2", 10810, "/var/lib/omig/disks", 128), (nbd.QmpSocket, nbd.ServerHost, nbd.ServerPort, nbd.ImageDirectory, nbd.ImageSizeMiB));
        Assert.Empty(OmigSiloOptionsValidator.Check(options));
    }

    [Fact]
    public void Bad_options_are_refused_each_naming_its_key()
    {
        Assert.Equal(["Omig:Cloud:Disk:Backend: 'ceph' is not simulated or nbd"], new CloudDiskSettings { Backend = "ceph" }.Check());

        var errors = new CloudDiskSettings
        {
            Backend = "nbd",
            Nbd = new NbdDiskOptions { QmpSocket = "qsd.sock", ServerHost = "storage", ServerPort = 0, ImageSizeMiB = 0 },
        }.Check();

        Assert.Equal(
            ["Omig:Cloud:Disk:Nbd:QmpSocket:", "Omig:Cloud:Disk:Nbd:ImageDirectory:", "Omig:Cloud:Disk:Nbd:ServerHost:", "Omig:Cloud:Disk:Nbd:ServerPort:", "Omig:Cloud:Disk:Nbd:ImageSizeMiB:"],
            errors.Select(e => e[..(e.IndexOf(": ", StringComparison.Ordinal) + 1)]));
        Assert.Empty(new CloudDiskSettings().Check());
    }

    [Fact]
    public void At_silo_start_a_missing_daemon_socket_or_image_directory_is_named()
    {
        var settings = new CloudDiskSettings
        {
            Backend = "nbd",
            Nbd = new NbdDiskOptions { QmpSocket = "/nonexistent/omn-qsd.sock", ImageDirectory = "/nonexistent/omn-images" },
        };

        var errors = NbdDiskOptionsValidator.Check(settings);

        Assert.Contains(errors, e => e.StartsWith("Omig:Cloud:Disk:Nbd:QmpSocket: '/nonexistent/omn-qsd.sock' does not exist", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Omig:Cloud:Disk:Nbd:ImageDirectory: '/nonexistent/omn-images' does not exist", StringComparison.Ordinal));
        Assert.Throws<Orleans.Runtime.OrleansConfigurationException>(() => new NbdDiskOptionsValidator(settings).ValidateConfiguration());
    }

    [Fact]
    public void A_silo_gets_the_simulated_store_by_default_and_the_nbd_store_when_asked()
    {
        var simulated = new ServiceCollection();
        new TestSiloBuilder(simulated).UseOrleansMigrate(new OmigSiloOptions());
        using (var provider = simulated.BuildServiceProvider())
        {
            Assert.IsType<SimulatedCloudDiskBackend>(provider.GetRequiredService<ICloudDiskBackend>());
        }

        var nbd = new ServiceCollection();
        new TestSiloBuilder(nbd).UseOrleansMigrate(new OmigSiloOptions
        {
            Cloud = new CloudSettings { Disk = new CloudDiskSettings { Backend = "nbd", Nbd = new NbdDiskOptions { QmpSocket = "/run/omn-qsd.sock", ImageDirectory = "/tmp" } } },
        });

        // Not resolved: resolving attaches to the daemon. The registration is read instead.
        var backend = nbd.Last(d => d.ServiceType == typeof(ICloudDiskBackend));
        Assert.Same(nbd.First(d => d.ServiceType == typeof(ICloudDiskBackend)), backend);
        Assert.Contains(nbd, d => d.ServiceType == typeof(NbdCloudDiskBackend));
        Assert.Contains(nbd, d => d.ImplementationType == typeof(NbdDiskOptionsValidator));

        var refused = Assert.Throws<InvalidOperationException>(() => new TestSiloBuilder(new ServiceCollection()).UseOrleansMigrate(new OmigSiloOptions
        {
            Cloud = new CloudSettings { Disk = new CloudDiskSettings { Backend = "nbd" } },
        }));
        Assert.Contains("Omig:Cloud:Disk:Nbd:QmpSocket", refused.Message);
    }

    private sealed class TestSiloBuilder(IServiceCollection services) : ISiloBuilder
    {
        public IServiceCollection Services { get; } = services;

        public IConfiguration Configuration { get; } = new ConfigurationBuilder().Build();
    }
}
