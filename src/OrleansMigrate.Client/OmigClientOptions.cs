namespace OrleansMigrate.Client;

/// <summary>How a client finds the cluster.</summary>
public sealed class OmigClientOptions
{
    /// <summary>Npgsql connection string of the cluster's PostgreSQL; when set the client discovers
    /// gateways through ADO.NET clustering, otherwise it connects to <see cref="GatewayPorts"/> on localhost.</summary>
    public string? PostgresConnectionString { get; set; }

    /// <summary>Localhost gateway ports of the embedded cluster; default 30000.</summary>
    public IReadOnlyList<int> GatewayPorts { get; set; } = [30000];

    public string ClusterId { get; set; } = "omig";

    public string ServiceId { get; set; } = "orleansmigrate";

    /// <summary>Mutual TLS to the gateways: this client's certificate (PKCS#12, or PEM with a key file) and the
    /// cluster's CA the silos' certificates must chain to. Off unless a certificate or a CA is set.</summary>
    public Security.OmigTlsOptions Tls { get; set; } = new();

    /// <summary>How long to wait for the first gateway before giving up; default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
