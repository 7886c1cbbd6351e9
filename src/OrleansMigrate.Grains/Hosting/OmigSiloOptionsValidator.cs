using System.Net;
using Microsoft.Extensions.Options;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Hosting;

/// <summary>Refuses a bad silo configuration at start with one message per field at fault.</summary>
public sealed class OmigSiloOptionsValidator : IValidateOptions<OmigSiloOptions>
{
    /// <summary>Largest <see cref="OmigSiloOptions.AuditIntervalSeconds"/>: one day.</summary>
    public const int MaxAuditIntervalSeconds = 86_400;

    /// <summary>Range of <see cref="OmigSiloOptions.AgentWaitTimeoutSeconds"/>: 5 s to one day.</summary>
    public const int MinAgentWaitTimeoutSeconds = 5, MaxAgentWaitTimeoutSeconds = 86_400;

    /// <summary>What the configuration binder refused, naming the key (<c>Failed to convert configuration value 'four' at
    /// 'Omig:Policies:gold:MigrationChannels' to type 'System.Int32'.</c>), where its innermost message names only the value.</summary>
    public static string BindingError(Exception ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal))
            {
                return e.Message;
            }
        }

        return ex.GetBaseException().Message;
    }

    public ValidateOptionsResult Validate(string? name, OmigSiloOptions options) =>
        Check(options) is { Count: > 0 } errors ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;

    public static List<string> Check(OmigSiloOptions o)
    {
        var errors = new List<string>();
        if (o.Role.Trim().ToLowerInvariant() is not ("control" or "host" or "all"))
        {
            errors.Add($"Omig:Role: '{o.Role}' is not one of control, host, all");
        }

        if (o.Storage.Trim().ToLowerInvariant() is not ("memory" or "postgres" or "postgresql"))
        {
            errors.Add($"Omig:Storage: '{o.Storage}' is not one of memory, postgres");
        }
        else if (o.ParsedStorage == StorageMode.Postgres && string.IsNullOrWhiteSpace(o.ConnectionString))
        {
            errors.Add("Omig:ConnectionString: required when Omig:Storage is postgres");
        }

        if (o.DatabaseWaitSeconds is < 0 or > MaxAuditIntervalSeconds)
        {
            errors.Add($"Omig:DatabaseWaitSeconds: {o.DatabaseWaitSeconds} is not between 0 and {MaxAuditIntervalSeconds}");
        }

        if (o.DatabaseMaxConnections is < 2 or > 1000)
        {
            errors.Add($"Omig:DatabaseMaxConnections: {o.DatabaseMaxConnections} is not between 2 and 1000");
        }

        if (o.HousekeepingCpus is not null)
        {
            try
            {
                Hypervisor.CpuSet.Parse(o.HousekeepingCpus, "Omig:HousekeepingCpus", Environment.ProcessorCount);
            }
            catch (ArgumentException ex)
            {
                errors.Add(ArgumentMessages.Reason(ex));
            }
        }

        var hosts = o.HostList;
        var role = o.Role.Trim().ToLowerInvariant();
        var memory = o.Storage.Trim().Equals("memory", StringComparison.OrdinalIgnoreCase);
        if (role is "host" && hosts.Count == 0)
        {
            errors.Add("Omig:Hosts: a host silo must name the host ids it serves, e.g. --hosts h-1,h-2");
        }

        if (role is "control" && o.Hosts is { Length: > 0 })
        {
            errors.Add("Omig:Hosts: a control silo runs no host agents; use --role all or --role host to serve hosts");
        }

        if (!memory && hosts.Contains(SiloMetadataKeys.AnyHost))
        {
            errors.Add("Omig:Hosts: '*' (any host) is only for the embedded memory mode; with postgres name the hosts this silo serves, so an agent never moves to another machine");
        }

        if (memory && role is "host")
        {
            errors.Add("Omig:Role: memory storage is a single-silo cluster, which needs the control role too: use --role all");
        }

        foreach (var h in hosts)
        {
            if (h != SiloMetadataKeys.AnyHost && !FleetValidation.IsValidId(h))
            {
                errors.Add($"Omig:Hosts: '{h}' is not a valid host id");
            }
        }

        if (o.SiloPort is < 1 or > 65535)
        {
            errors.Add($"Omig:SiloPort: {o.SiloPort} is not a port (1-65535)");
        }

        if (o.GatewayPort is < 1 or > 65535)
        {
            errors.Add($"Omig:GatewayPort: {o.GatewayPort} is not a port (1-65535)");
        }

        if (o.SiloPort == o.GatewayPort)
        {
            errors.Add("Omig:GatewayPort: must differ from Omig:SiloPort");
        }

        if (!IPAddress.TryParse(o.AdvertisedAddress, out var advertised))
        {
            errors.Add($"Omig:AdvertisedAddress: '{o.AdvertisedAddress}' is not an IP address");
        }
        else if (advertised.Equals(IPAddress.Any) || advertised.Equals(IPAddress.IPv6Any))
        {
            errors.Add($"Omig:AdvertisedAddress: '{o.AdvertisedAddress}' is not reachable; give the address other silos and clients use");
        }

        if (string.IsNullOrWhiteSpace(o.ClusterId) || o.ClusterId.Length > 100)
        {
            errors.Add("Omig:ClusterId: must be 1-100 characters");
        }

        if (string.IsNullOrWhiteSpace(o.ServiceId) || o.ServiceId.Length > 100)
        {
            errors.Add("Omig:ServiceId: must be 1-100 characters");
        }

        var telemetry = o.Telemetry.Trim().ToLowerInvariant();
        if (telemetry is not ("none" or "console" or "otlp"))
        {
            errors.Add($"Omig:Telemetry: '{o.Telemetry}' is not one of none, console, otlp");
        }
        else if (telemetry == "otlp" && !Uri.TryCreate(o.OtlpEndpoint, UriKind.Absolute, out _))
        {
            errors.Add("Omig:OtlpEndpoint: an absolute URI (e.g. http://127.0.0.1:4317) is required with Omig:Telemetry otlp");
        }

        if (o.AuditIntervalSeconds is < 0 or > MaxAuditIntervalSeconds)
        {
            errors.Add($"Omig:AuditIntervalSeconds: {o.AuditIntervalSeconds} is not 0 (off) or 1-{MaxAuditIntervalSeconds} seconds");
        }

        if (o.AgentWaitTimeoutSeconds is < MinAgentWaitTimeoutSeconds or > MaxAgentWaitTimeoutSeconds)
        {
            errors.Add($"Omig:AgentWaitTimeoutSeconds: {o.AgentWaitTimeoutSeconds} is not {MinAgentWaitTimeoutSeconds}-{MaxAgentWaitTimeoutSeconds} seconds");
        }

        var driver = o.Driver.Trim().ToLowerInvariant();
        if (driver is not ("simulated" or "qemu" or "analytic"))
        {
            errors.Add($"Omig:Driver: '{o.Driver}' is not a known hypervisor driver (simulated, qemu, analytic)");
        }
        else if (driver == "analytic" && (!double.IsFinite(o.TimeAcceleration) || o.TimeAcceleration is < 1 or > 1_000_000))
        {
            errors.Add($"Omig:TimeAcceleration: {o.TimeAcceleration} is not between 1 and 1000000");
        }
        else if (driver == "qemu")
        {
            try
            {
                o.Qemu.Validate();
            }
            catch (ArgumentException ex)
            {
                errors.Add($"Omig:{ArgumentMessages.Reason(ex)}");
            }

            if (o.Qemu.ImageDirectories.Count == 0)
            {
                errors.Add("Omig:Qemu:ImageDirectories: at least one directory is required with the qemu driver (VM images must live inside one)");
            }
        }

        foreach (var (key, reason) in o.Tls.Check(certificateRequired: true))
        {
            errors.Add($"Omig:Tls:{key}: {reason}");
        }

        errors.AddRange(o.Faults.Check());
        errors.AddRange(o.Admission.Check());
        if (!double.IsFinite(o.CloudLatencyScale) || o.CloudLatencyScale is < 0 or > 1)
        {
            errors.Add($"Omig:CloudLatencyScale: {o.CloudLatencyScale} is not between 0 and 1");
        }

        errors.AddRange(o.Maintenance.Check());
        errors.AddRange(o.Power.Check());
        errors.AddRange(o.Cloud.Disk.Check());
        errors.AddRange(o.Cloud.Network.Check());
        if (o.Cloud.Network.UsesTaps && (o.HostList.Count != 1 || o.HostList[0] == SiloMetadataKeys.AnyHost))
        {
            // A VM's taps are named after the VM and made in the silo's own namespace: a migration between two hosts of one
            // silo would have both QEMUs claim the same tap, and the source's cleanup would remove the destination's.
            errors.Add($"Omig:Cloud:Network:VmNics: 'tap' makes a VM's taps in this silo's network namespace, so the silo must serve exactly one host (it serves '{o.EffectiveHosts}'); run one host silo per host namespace");
        }

        try
        {
            o.Cloud.Sessions.Validate();
        }
        catch (ArgumentException ex)
        {
            errors.Add("Omig:" + ex.Message.TrimEnd('.'));
        }
        foreach (var (name, settings) in o.Policies)
        {
            errors.AddRange(settings.Check(name));
        }
        return errors;
    }
}
