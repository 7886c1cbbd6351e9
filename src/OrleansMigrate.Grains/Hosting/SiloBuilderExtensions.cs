using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Serialization;
using Orleans.Storage;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Audit;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Grains.Placement;

namespace OrleansMigrate.Grains.Hosting;

public static class SiloBuilderExtensions
{
    public const string AdoNetInvariant = "Npgsql";

    /// <summary>Everything an OrleansMigrate silo needs: clustering and storage for the chosen mode,
    /// our silo metadata, placement directors and the host runtime.</summary>
    public static ISiloBuilder UseOrleansMigrate(this ISiloBuilder silo, OmigSiloOptions options)
    {
        if (OmigSiloOptionsValidator.Check(options) is { Count: > 0 } errors)
        {
            throw new InvalidOperationException("Invalid silo configuration:\n  " + string.Join("\n  ", errors));
        }

        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = options.ServiceId;
        });
        silo.Configure<SiloOptions>(o => o.SiloName = options.EffectiveName);

        if (options.ParsedStorage == StorageMode.Memory)
        {
            silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, serviceId: options.ServiceId, clusterId: options.ClusterId);
            silo.AddOmigMemoryStorage();
            silo.UseInMemoryReminderService();
        }
        else
        {
            silo.ConfigureEndpoints(IPAddress.Parse(options.AdvertisedAddress), options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: false);
            var connectionString = PostgresConnections.Bounded(options.ConnectionString!, options.DatabaseMaxConnections);
            silo.UseAdoNetClustering(o =>
            {
                o.Invariant = AdoNetInvariant;
                o.ConnectionString = PostgresConnections.ForMembership(options.ConnectionString!);
            });
            silo.AddOmigPostgresStorage(connectionString);
        }

        if (options.Tls.SiloTlsOn)
        {
            silo.UseOmigMutualTls(options.Tls);
        }

        if (options.HousekeepingCpus is { } housekeeping)
        {
            // Before Orleans starts its threads: every thread created later inherits the set from its creator.
            Hypervisor.CpuSet.Parse(housekeeping, "Omig:HousekeepingCpus", Environment.ProcessorCount).PinProcess(Environment.ProcessId);
        }

        silo.Services.AddRuntimeOptionsValidation();
        silo.Services.Configure<HostRuntimeOptions>(o =>
        {
            o.Driver = Enum.Parse<HypervisorKind>(options.Driver.Trim(), ignoreCase: true);
            o.TimeAcceleration = options.TimeAcceleration;
            o.Qemu = options.Qemu;
            o.ListenAddress = options.AdvertisedAddress;
            o.Sessions = options.Cloud.Sessions;
            o.TapNics = options.Cloud.Network.UsesTaps;
            o.RelayLeadMs = options.Cloud.Network.RelayLeadMs;
        });
        silo.Services.Configure<InvariantAuditOptions>(o => o.Interval = TimeSpan.FromSeconds(options.AuditIntervalSeconds));
        silo.Services.Configure<AgentWaitOptions>(o => o.Timeout = TimeSpan.FromSeconds(options.AgentWaitTimeoutSeconds));
        silo.Services.Configure<MigrationAdmissionOptions>(options.Admission.ApplyTo);
        if (options.CloudLatencyScale != 1)
        {
            // Registered before the core's default latencies, which only fill an empty slot.
            silo.Services.AddSingleton(CloudBackendOptions.Scaled(options.CloudLatencyScale));
        }

        if (options.Cloud.Disk.UsesNbd)
        {
            // Registered before the core's simulated block store, which only fills an empty slot.
            silo.Services.AddOmigNbdDiskBackend(options.Cloud.Disk);
        }

        if (options.Cloud.Network.IsLinux)
        {
            // Registered before the core's simulated network manager, which only fills an empty slot.
            silo.Services.AddOmigLinuxNetwork(options.Cloud.Network.Linux);
        }

        silo.Services.TryAddSingleton(options.Maintenance);
        silo.Services.TryAddSingleton(options.Power);
        silo.Services.Configure<MigrationPolicyOptions>(o =>
        {
            foreach (var (name, settings) in options.Policies)
            {
                o.Policies[name] = settings.ApplyTo(o.Policies.GetValueOrDefault(name) ?? o.Policies["standard"], name);
            }
        });
        if (options.Faults.Enabled)
        {
            // Registered before the core's NoFaults default, which only fills an empty slot.
            silo.Services.AddSingleton<IFaultInjector>(new RandomFaults(options.Faults));
        }

        return silo.AddOrleansMigrateCore(options.ParsedRole, options.EffectiveHosts);
    }

    /// <summary>
    /// Mutual TLS on every silo-to-silo and gateway connection: this silo presents its certificate both ways and
    /// requires one from every peer and client, accepted only when it chains to the configured CA.
    /// </summary>
    public static ISiloBuilder UseOmigMutualTls(this ISiloBuilder silo, Security.OmigTlsOptions tls)
    {
        var certificate = tls.LoadCertificate();
        var roots = tls.LoadCa();
        var trusted = Security.TlsPeerValidation.For(roots);
        return silo.UseTls(certificate, o =>
        {
            o.RemoteCertificateMode = Orleans.Connections.Security.RemoteCertificateMode.RequireCertificate;
            o.ClientCertificateMode = Orleans.Connections.Security.RemoteCertificateMode.RequireCertificate;
            o.CheckCertificateRevocation = false;
            o.RemoteCertificateValidation = (cert, chain, errors) => trusted(cert, chain, errors);
        });
    }

    /// <summary>Grain storage and reminders on PostgreSQL (our schema, <c>deploy/postgres</c>).</summary>
    public static ISiloBuilder AddOmigPostgresStorage(this ISiloBuilder silo, string connectionString)
    {
        // Orleans' ADO.NET storage under a name of its own; our grains see it through DatabaseErrorStorage, which
        // answers a database failure with our Unavailable (a state read while a grain activates passes no call filter).
        silo.AddAdoNetGrainStorage(StorageNames.FleetDatabase, (OptionsBuilder<AdoNetGrainStorageOptions> b) => b.Configure<Serializer>((o, serializer) =>
        {
            o.Invariant = AdoNetInvariant;
            o.ConnectionString = connectionString;
            // Orleans' own serializer honours our [Id]/[Alias] contracts, so stored rows survive
            // renamed members and added fields.
            o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
        }));
        silo.Services.AddKeyedSingleton<IGrainStorage>(StorageNames.Fleet, (sp, _) => new DatabaseErrorStorage(
            sp.GetRequiredKeyedService<IGrainStorage>(StorageNames.FleetDatabase), sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<DatabaseErrorStorage>>()));
        silo.UseAdoNetReminderService(o =>
        {
            o.Invariant = AdoNetInvariant;
            o.ConnectionString = connectionString;
        });
        DatabaseErrorReminderTable.Decorate(silo.Services);
        return silo;
    }

    /// <summary>
    /// In-memory grain storage for the embedded mode and tests, with Orleans' own serializer as in the
    /// PostgreSQL mode: the default JSON serializer cannot read back the immutable collections in our state.
    /// </summary>
    public static ISiloBuilder AddOmigMemoryStorage(this ISiloBuilder silo) =>
        silo.AddMemoryGrainStorage(StorageNames.Fleet, (OptionsBuilder<MemoryGrainStorageOptions> b) =>
            b.Configure<Serializer>((o, serializer) => o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer)));

    /// <summary>Metadata, placement and host runtime only: for test clusters that bring their own clustering and storage.
    /// The continuous invariant auditor is off here unless <see cref="InvariantAuditOptions"/> are configured.</summary>
    public static ISiloBuilder AddOrleansMigrateCore(this ISiloBuilder silo, SiloRole role, string hosts)
    {
        var roles = new List<string>();
        if (role.HasFlag(SiloRole.Control))
        {
            roles.Add("control");
        }

        if (role.HasFlag(SiloRole.Host))
        {
            roles.Add("host");
        }

        silo.UseSiloMetadata(new Dictionary<string, string>
        {
            [SiloMetadataKeys.Roles] = string.Join(',', roles),
            [SiloMetadataKeys.Hosts] = role.HasFlag(SiloRole.Host) ? hosts : string.Empty,
        });
        silo.AddActivityPropagation();
        silo.AddIncomingGrainCallFilter<DatabaseErrorFilter>();
        silo.Services.AddSingleton<SiloDirectory>();
        silo.Services.AddPlacementDirector<HostPinnedPlacementStrategy, HostPinnedPlacementDirector>();
        silo.Services.AddPlacementDirector<ControlPlanePlacementStrategy, ControlPlanePlacementDirector>();
        silo.Services.AddSingleton(TimeProvider.System);
        silo.Services.AddOptions<HostRuntimeOptions>();
        silo.Services.AddOptions<MigrationAdmissionOptions>();
        silo.Services.AddOptions<MigrationPolicyOptions>();
        silo.Services.AddOptions<AgentWaitOptions>();
        silo.Services.TryAddSingleton<MigrationTelemetry>();
        silo.Services.TryAddSingleton<IFaultInjector>(NoFaults.Instance);
        silo.Services.TryAddSingleton<SimulatedLocationServicesBackend>();
        silo.Services.TryAddSingleton<ILocationServicesBackend>(sp => sp.GetRequiredService<SimulatedLocationServicesBackend>());
        silo.Services.TryAddSingleton<IHostRuntime, DriverHostRuntime>();
        silo.Services.TryAddSingleton(_ => new Operations.MaintenanceOptions());
        silo.Services.TryAddSingleton<Operations.FleetViewCache>();
        silo.Services.TryAddSingleton<Operations.OwnerNotifier>();
        silo.Services.TryAddSingleton<Operations.IOwnerNotifier>(sp => sp.GetRequiredService<Operations.OwnerNotifier>());
        silo.Services.TryAddSingleton<Operations.IMaintenanceBackend>(sp => sp.GetRequiredService<Operations.MaintenanceOptions>().Backend.Trim().Equals("command", StringComparison.OrdinalIgnoreCase)
            ? new Operations.CommandMaintenanceBackend(sp.GetRequiredService<Operations.MaintenanceOptions>())
            : ActivatorUtilities.CreateInstance<Operations.SimulatedMaintenanceBackend>(sp));
        silo.Services.TryAddSingleton(_ => new Operations.PowerOptions());
        silo.Services.TryAddSingleton<Operations.IPowerBackend>(sp => sp.GetRequiredService<Operations.PowerOptions>().Backend.Trim().Equals("command", StringComparison.OrdinalIgnoreCase)
            ? new Operations.CommandPowerBackend(sp.GetRequiredService<Operations.PowerOptions>())
            : ActivatorUtilities.CreateInstance<Operations.SimulatedPowerBackend>(sp));
        silo.Services.AddOmigCloudBackends();
        silo.Services.AddOptions<InvariantAuditOptions>();
        silo.Services.TryAddSingleton<AuditTelemetry>();
        if (role.HasFlag(SiloRole.Control))
        {
            silo.Services.AddSingleton<InvariantAuditDriver>();
            silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<InvariantAuditDriver>());
        }

        return silo;
    }
}
