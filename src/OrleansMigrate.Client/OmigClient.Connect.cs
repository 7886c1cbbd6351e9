using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Connections.Security;
using OrleansMigrate.Audit;
using OrleansMigrate.Cluster;
using OrleansMigrate.Errors;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Client;

/// <summary>Connecting: gateways from the options or the membership table, mutual TLS, and the hint an unreachable
/// cluster gets.</summary>
public sealed partial class OmigClient
{
    /// <summary>Connects to a running cluster; throws <see cref="OmigException"/> (Unavailable) when no gateway answers.</summary>
    public static async Task<OmigClient> ConnectAsync(OmigClientOptions options, CancellationToken cancellationToken = default)
    {
        // Refuse unreadable TLS files here, naming the setting, rather than as a connection failure.
        if (options.Tls.ClientTlsOn && options.Tls.Check(certificateRequired: false) is [var (key, reason), ..])
        {
            throw OmigException.Invalid(key switch
            {
                nameof(Security.OmigTlsOptions.Certificate) => "tls_cert",
                nameof(Security.OmigTlsOptions.KeyFile) => "tls_key",
                nameof(Security.OmigTlsOptions.CaCertificate) => "tls_ca",
                _ => "tls_password",
            }, reason);
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleansClient(client =>
        {
            client.AddActivityPropagation();
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = options.ClusterId;
                o.ServiceId = options.ServiceId;
            });
            if (options.PostgresConnectionString is { Length: > 0 } cs)
            {
                client.UseAdoNetClustering(o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = cs;
                });
            }
            else
            {
                client.UseLocalhostClustering([.. options.GatewayPorts], options.ServiceId, options.ClusterId);
            }

            if (options.Tls.ClientTlsOn)
            {
                UseMutualTls(client, options.Tls);
            }
        });
        var host = builder.Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        try
        {
            await host.StartAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            host.Dispose();
            var where = options.PostgresConnectionString is { Length: > 0 }
                ? "the gateways listed in PostgreSQL"
                : $"localhost gateway port(s) {string.Join(",", options.GatewayPorts)}";
            throw new OmigException(OmigErrorCode.Unavailable, null, $"cannot connect to the cluster at {where}: {ex.GetBaseException().Message}{await ConnectHintAsync(options)}");
        }

        return new OmigClient(host);
    }

    /// <summary>
    /// Why a connection may have failed, found out rather than guessed (Orleans reports only a timeout): are any of the
    /// cluster's gateways listed and listening, and do they speak TLS? A hint about TLS only where TLS can be the cause.
    /// </summary>
    private static async Task<string> ConnectHintAsync(OmigClientOptions options)
    {
        List<System.Net.IPEndPoint> gateways;
        try
        {
            gateways = options.PostgresConnectionString is { Length: > 0 } cs
                ? await ListedGatewaysAsync(cs, options.ClusterId)
                : [.. options.GatewayPorts.Select(p => new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, p))];
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or TimeoutException or IOException or InvalidOperationException)
        {
            return string.Empty;
        }

        if (gateways.Count == 0)
        {
            return $" (no silo of cluster '{options.ClusterId}' is listed as active: is the cluster running, with this cluster id?)";
        }

        var answers = (await Task.WhenAll(gateways.Take(3).Select(SpeaksTlsAsync))).Where(a => a is not null).ToList();
        if (answers.Count == 0)
        {
            return " (no silo answered at its gateway: is the cluster running?)";
        }

        var tls = answers.Any(a => a == true);
        if (!options.Tls.ClientTlsOn)
        {
            return tls ? " (the gateways run mutual TLS: connect with --tls-ca and --tls-cert, the cluster's CA and a certificate it issued)" : string.Empty;
        }

        if (!tls)
        {
            return " (TLS: the gateways do not run TLS; connect without the --tls-… settings)";
        }

        return string.IsNullOrWhiteSpace(options.Tls.Certificate)
            ? " (TLS: the cluster runs mutual TLS and needs a client certificate, --tls-cert)"
            : " (TLS: the gateways refused this client's certificate, or this client refused theirs: both must be issued by the CA given with --tls-ca)";
    }

    private static async Task<List<System.Net.IPEndPoint>> ListedGatewaysAsync(string connectionString, string clusterId)
    {
        var csb = new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { Timeout = 5, CommandTimeout = 5, Pooling = false };
        await using var connection = new Npgsql.NpgsqlConnection(csb.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT address, proxy_port FROM orleans_membership WHERE deployment_id = @id AND status = 3 AND proxy_port > 0";
        command.Parameters.AddWithValue("id", clusterId);
        var endpoints = new List<System.Net.IPEndPoint>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            if (System.Net.IPAddress.TryParse(reader.GetString(0), out var address))
            {
                endpoints.Add(new System.Net.IPEndPoint(address, reader.GetInt32(1)));
            }
        }

        return endpoints;
    }

    /// <summary>True: the endpoint answers a TLS handshake; false: it listens but does not speak TLS; null: nothing listens.</summary>
    private static async Task<bool?> SpeaksTlsAsync(System.Net.IPEndPoint endpoint)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        using var tcp = new System.Net.Sockets.TcpClient(endpoint.AddressFamily);
        try
        {
            await tcp.ConnectAsync(endpoint, cts.Token);
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or OperationCanceledException)
        {
            return null;
        }

        await using var ssl = new System.Net.Security.SslStream(tcp.GetStream());
        try
        {
            await ssl.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = endpoint.Address.ToString(),
                RemoteCertificateValidationCallback = (_, _, _, _) => true, // only whether it speaks TLS is asked here
            }, cts.Token);
            return true;
        }
        catch (System.Security.Authentication.AuthenticationException ex) when (ex.Message.Contains("alert", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>TLS on every gateway connection: the gateway's certificate must chain to the configured CA; this
    /// client presents its own certificate when it has one (a mutual-TLS silo refuses a client without).</summary>
    private static void UseMutualTls(IClientBuilder client, Security.OmigTlsOptions tls)
    {
        var certificate = string.IsNullOrWhiteSpace(tls.Certificate) ? null : tls.LoadCertificate();
        var trusted = Security.TlsPeerValidation.For(tls.LoadCa());
        client.UseTls(o =>
        {
            o.LocalCertificate = certificate;
            o.ClientCertificateMode = certificate is null ? RemoteCertificateMode.NoCertificate : RemoteCertificateMode.RequireCertificate;
            o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            o.CheckCertificateRevocation = false;
            o.RemoteCertificateValidation = (cert, chain, errors) => trusted(cert, chain, errors);
        });
    }
}
