using Microsoft.Extensions.DependencyInjection.Extensions;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Cloud.Linux;
using OrleansMigrate.Grains.Cloud.Nbd;
using OrleansMigrate.Grains.Faults;

// In the DI namespace, as .NET's own registration extensions are, so hosts find it without a using.
namespace Microsoft.Extensions.DependencyInjection;

public static class CloudServiceCollectionExtensions
{
    /// <summary>
    /// The cloud backends the disk and VPC grains act through: the simulated block store and network
    /// manager (singletons, also resolvable as their concrete types for inspection), default
    /// <see cref="CloudBackendOptions"/> (checked at silo start) and <see cref="NoFaults"/>. Every registration
    /// is a TryAdd, so services registered before this call (test latencies, a shared
    /// <see cref="ScriptedFaults"/>, another backend) win.
    /// </summary>
    public static IServiceCollection AddOmigCloudBackends(this IServiceCollection services)
    {
        services.TryAddSingleton(_ => new CloudBackendOptions());
        services.TryAddSingleton<IFaultInjector>(NoFaults.Instance);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<SimulatedCloudDiskBackend>();
        services.TryAddSingleton<ICloudDiskBackend>(sp => sp.GetRequiredService<SimulatedCloudDiskBackend>());
        services.TryAddSingleton<SimulatedNetworkManagerBackend>();
        services.TryAddSingleton<INetworkManagerBackend>(sp => sp.GetRequiredService<SimulatedNetworkManagerBackend>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigurationValidator, CloudBackendOptionsValidator>());
        return services;
    }

    /// <summary>
    /// The <c>nbd</c> block store (<see cref="NbdCloudDiskBackend"/>) as this silo's <see cref="ICloudDiskBackend"/>, on
    /// the running qemu-storage-daemon that <paramref name="settings"/> names (attached at the first use; its program,
    /// socket and image directory checked at silo start by <see cref="NbdDiskOptionsValidator"/>). Call before
    /// <see cref="AddOmigCloudBackends"/>.
    /// </summary>
    public static IServiceCollection AddOmigNbdDiskBackend(this IServiceCollection services, CloudDiskSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Check() is { Count: > 0 } errors)
        {
            throw new ArgumentException("Invalid cloud disk options: " + string.Join("; ", errors), nameof(settings));
        }

        var o = settings.Nbd;
        services.AddSingleton(settings);
        // Resolved at the first disk grain's activation, on that grain's single-threaded scheduler: the attach runs on the
        // thread pool, or the wait below would hold the very thread its QMP greeting needs (it timed out, and the
        // half-open connection then kept the daemon's one monitor busy for every later try).
        services.AddSingleton(_ => new NbdCloudDiskBackend(
            Task.Run(() => QemuStorageDaemon.AttachAsync(o.QmpSocket!, o.ImageDirectory!, o.ServerHost, o.ServerPort)).GetAwaiter().GetResult(), o.ImageSizeMiB));
        services.AddSingleton<ICloudDiskBackend>(sp => sp.GetRequiredService<NbdCloudDiskBackend>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigurationValidator, NbdDiskOptionsValidator>());
        return services;
    }

    /// <summary>The <c>linux</c> network manager (<see cref="LinuxNetworkManagerBackend"/>, also resolvable as its type for
    /// its measured latencies) in place of the simulated one, with a start-up check of the machine. Call before
    /// <see cref="AddOmigCloudBackends"/>.</summary>
    public static IServiceCollection AddOmigLinuxNetwork(this IServiceCollection services, LinuxNetworkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.AddSingleton(options);
        services.AddSingleton<LinuxNetworkManagerBackend>();
        services.AddSingleton<INetworkManagerBackend>(sp => sp.GetRequiredService<LinuxNetworkManagerBackend>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigurationValidator, LinuxNetworkStartupCheck>());
        return services;
    }
}
