using System.Globalization;
using OrleansMigrate.Client;
using OrleansMigrate.Security;

namespace OrleansMigrate.ApiHost;

/// <summary>
/// Where <c>omig-api</c> finds the cluster (section <c>Omig</c>, the same keys and environment variables as the silo's:
/// <c>Omig__ConnectionString</c>, <c>Omig__Tls__Password</c>). The API's own settings are the silo's <c>OmigApi</c> section.
/// </summary>
public sealed class ApiHostOptions
{
    public const string Section = "Omig";

    /// <summary>Static gateways on this machine, comma-separated ports (the embedded or a single-machine cluster), used
    /// when no connection string is given.</summary>
    public string Gateways { get; set; } = "30000";

    /// <summary>Npgsql connection string: gateways found through ADO.NET clustering. From the environment or a file only.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>A file (mode 0600) holding <see cref="ConnectionString"/>.</summary>
    public string? ConnectionStringFile { get; set; }

    public string ClusterId { get; set; } = "omig";

    public string ServiceId { get; set; } = "orleansmigrate";

    /// <summary>How long to wait for the first gateway at start, in seconds.</summary>
    public int ConnectTimeoutSeconds { get; set; } = 30;

    /// <summary>Serve the Orleans dashboard at <c>/dashboard/</c> to operators (<c>--dashboard</c>, the silo's key); the silos
    /// must run it too (<c>omig-silo --dashboard</c>), this process only calls their dashboard grains.</summary>
    public bool Dashboard { get; set; }

    /// <summary>Mutual TLS to the gateways, and the HTTPS certificate of the API port.</summary>
    public OmigTlsOptions Tls { get; set; } = new();

    /// <summary>The problems with these settings, one line each; empty when usable. Secret files are read here.</summary>
    public List<string> Check()
    {
        var errors = new List<string>();
        if (Ports() is null)
        {
            errors.Add($"{Section}:Gateways: '{Gateways}' is not a comma-separated list of ports (1-65535)");
        }

        if (ConnectTimeoutSeconds is < 1 or > 600)
        {
            errors.Add($"{Section}:ConnectTimeoutSeconds: must be 1-600");
        }

        if (SecretFile.Read($"{Section}:ConnectionStringFile", ConnectionStringFile, ConnectionString, $"{Section}:ConnectionString", errors) is { } cs)
        {
            ConnectionString = cs;
        }

        if (SecretFile.Read($"{Section}:Tls:PasswordFile", Tls.PasswordFile, Tls.Password, $"{Section}:Tls:Password", errors) is { } password)
        {
            Tls.Password = password;
        }

        if (errors.Count == 0 && Tls.ClientTlsOn)
        {
            errors.AddRange(Tls.Check(certificateRequired: false).Select(e => $"{Section}:Tls:{e.Key}: {e.Reason}"));
        }

        return errors;
    }

    public OmigClientOptions ClientOptions() => new()
    {
        GatewayPorts = Ports() ?? [],
        PostgresConnectionString = string.IsNullOrWhiteSpace(ConnectionString) ? null : ConnectionString,
        ClusterId = ClusterId,
        ServiceId = ServiceId,
        Tls = Tls,
        ConnectTimeout = TimeSpan.FromSeconds(ConnectTimeoutSeconds),
    };

    private List<int>? Ports()
    {
        var ports = new List<int>();
        foreach (var part in Gateways.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                return null;
            }

            ports.Add(port);
        }

        return ports.Count > 0 ? ports : null;
    }
}
