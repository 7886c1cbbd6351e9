using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OrleansMigrate.Tests.Hosting;

/// <summary>CAs and leaf certificates made in-process with <see cref="CertificateRequest"/>, written to a temporary directory.</summary>
public sealed class TestCertificates : IDisposable
{
    public TestCertificates()
    {
        Directory = Path.Combine(Path.GetTempPath(), "omig-tls-test-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    public string PathOf(string file) => Path.Combine(Directory, file);

    /// <summary>A self-signed CA; its certificate is written to <c>NAME.pem</c>.</summary>
    public X509Certificate2 MakeCa(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-7), DateTimeOffset.UtcNow.AddYears(5));
        File.WriteAllText(PathOf(name + ".pem"), ca.ExportCertificatePem() + "\n");
        return ca;
    }

    /// <summary>A leaf issued by <paramref name="ca"/> (server and client authentication), written as <c>NAME.pfx</c>
    /// (with <paramref name="password"/>) and <c>NAME.crt</c> + <c>NAME.key</c> (PEM).</summary>
    public X509Certificate2 MakeLeaf(X509Certificate2 ca, string name, string? password, DateTimeOffset? notAfter = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        var end = notAfter ?? DateTimeOffset.UtcNow.AddYears(1);
        var serial = RandomNumberGenerator.GetBytes(12);
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-2), end < ca.NotAfter ? end : ca.NotAfter, serial);
        var leaf = issued.CopyWithPrivateKey(key);
        File.WriteAllBytes(PathOf(name + ".pfx"), leaf.Export(X509ContentType.Pkcs12, password));
        File.WriteAllText(PathOf(name + ".crt"), leaf.ExportCertificatePem() + "\n");
        File.WriteAllText(PathOf(name + ".key"), key.ExportPkcs8PrivateKeyPem());
        return leaf;
    }

    /// <summary>A self-signed leaf (its own issuer), written like <see cref="MakeLeaf"/>.</summary>
    public X509Certificate2 MakeSelfSigned(string name, string? password)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        File.WriteAllBytes(PathOf(name + ".pfx"), cert.Export(X509ContentType.Pkcs12, password));
        File.WriteAllText(PathOf(name + ".crt"), cert.ExportCertificatePem());
        return cert;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
