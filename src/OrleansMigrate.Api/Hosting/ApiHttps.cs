using System.Security.Cryptography.X509Certificates;
using OrleansMigrate.Security;

namespace OrleansMigrate.Api.Hosting;

/// <summary>
/// HTTPS on the API port when the cluster runs TLS: Kestrel serves with the process's own cluster certificate (the silo's
/// <c>--tls-cert</c>, or <c>omig-api</c>'s client certificate). Callers are not asked for a certificate; bearer tokens
/// stay the authentication. A process on a TLS cluster without a certificate, or with <see cref="OmigApiOptions.InsecureHttp"/>
/// unset, does not quietly fall back to plain HTTP: bearer keys would cross the network in clear where everything else
/// is encrypted.
/// </summary>
public static class ApiHttps
{
    /// <summary>The certificate to serve HTTPS with, or null for plain HTTP (no cluster TLS, or <c>--api-insecure-http</c>);
    /// <paramref name="error"/> says why neither is allowed. Loads the certificate (the caller disposes it).</summary>
    public static X509Certificate2? Certificate(OmigTlsOptions tls, OmigApiOptions api, out string? error)
    {
        error = null;
        if (!tls.ClientTlsOn || api.InsecureHttp)
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(tls.Certificate))
        {
            error = "--api-port: the cluster runs TLS but this process has no certificate to serve the API over HTTPS with; " +
                "give --tls-cert (a certificate the cluster's CA issued), or --api-insecure-http to serve plain HTTP";
            return null;
        }

        try
        {
            return tls.LoadCertificate();
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or ArgumentException or InvalidOperationException)
        {
            error = $"--api-port: cannot load the HTTPS certificate '{tls.Certificate}': {ex.GetBaseException().Message}";
            return null;
        }
    }
}
