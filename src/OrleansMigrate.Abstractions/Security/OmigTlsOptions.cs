using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OrleansMigrate.Security;

/// <summary>
/// Mutual TLS settings, shared by the silo (<c>Omig:Tls:…</c>) and clients (<c>omig --tls-…</c>): this
/// process's certificate and key, and the private CA every peer's certificate must chain to. Off unless
/// <see cref="Certificate"/> (silo) or <see cref="CaCertificate"/> (client) is set. Set-up: <c>deploy/tls/README.md</c>.
/// </summary>
/// <remarks><see cref="Password"/> is a secret: it appears in no message, log line or <see cref="ToString"/>.</remarks>
public sealed class OmigTlsOptions
{
    /// <summary>Turns TLS off even when paths are set (e.g. <c>Omig__Tls__Enabled=false</c> over an appsettings file); default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>This process's certificate: a PKCS#12 file (<c>.pfx</c>/<c>.p12</c>, certificate and key, optionally
    /// encrypted with <see cref="Password"/>), or a PEM certificate whose key is in <see cref="KeyFile"/>.</summary>
    public string? Certificate { get; set; }

    /// <summary>PEM private key of a PEM <see cref="Certificate"/> (PKCS#8, optionally encrypted with <see cref="Password"/>).</summary>
    public string? KeyFile { get; set; }

    /// <summary>Password of the PKCS#12 file or the encrypted PEM key. A secret: never logged.</summary>
    public string? Password { get; set; }

    /// <summary>A file (mode 0600) holding <see cref="Password"/>, read by the silo (<c>--tls-password-file</c>): a
    /// password on the command line shows in the process list.</summary>
    public string? PasswordFile { get; set; }

    /// <summary>PEM file of the cluster's CA certificate(s); the only roots a peer's certificate may chain to.
    /// Several certificates in the file are all trusted (for a CA rotation).</summary>
    public string? CaCertificate { get; set; }

    /// <summary>A silo runs TLS when enabled and given a certificate.</summary>
    public bool SiloTlsOn => Enabled && !string.IsNullOrWhiteSpace(Certificate);

    /// <summary>A client runs TLS when enabled and given a certificate or a CA (a client without a certificate
    /// still speaks TLS; a mutual-TLS silo refuses it).</summary>
    public bool ClientTlsOn => Enabled && (!string.IsNullOrWhiteSpace(Certificate) || !string.IsNullOrWhiteSpace(CaCertificate));

    /// <summary>The settings without the password (only whether one is set).</summary>
    public override string ToString() =>
        $"Enabled={Enabled}, Certificate={Certificate ?? "-"}, KeyFile={KeyFile ?? "-"}, Password={(string.IsNullOrEmpty(Password) ? "-" : "(set)")}, CaCertificate={CaCertificate ?? "-"}";

    /// <summary>
    /// Problems with the files, as (key, reason) pairs — key one of <c>Certificate</c>, <c>KeyFile</c>,
    /// <c>Password</c>, <c>CaCertificate</c> — by loading them. <paramref name="certificateRequired"/>: a silo
    /// needs its own certificate, a client may go without. Reasons never contain the password. Never throws.
    /// </summary>
    public List<(string Key, string Reason)> Check(bool certificateRequired)
    {
        var errors = new List<(string, string)>();
        if (!Enabled)
        {
            return errors;
        }

        var hasCert = !string.IsNullOrWhiteSpace(Certificate);
        if (!hasCert && certificateRequired)
        {
            if (!string.IsNullOrWhiteSpace(CaCertificate) || !string.IsNullOrWhiteSpace(KeyFile))
            {
                errors.Add((nameof(Certificate), "required when TLS settings are given (this process's certificate, PKCS#12 or PEM)"));
            }

            return errors;
        }

        if (!hasCert && !string.IsNullOrWhiteSpace(KeyFile))
        {
            errors.Add((nameof(KeyFile), "given without a certificate"));
        }

        if (hasCert)
        {
            if (!File.Exists(Certificate))
            {
                errors.Add((nameof(Certificate), $"file '{Certificate}' does not exist"));
            }
            else if (!string.IsNullOrWhiteSpace(KeyFile) && !File.Exists(KeyFile))
            {
                errors.Add((nameof(KeyFile), $"file '{KeyFile}' does not exist"));
            }
            else
            {
                try
                {
                    if (string.IsNullOrWhiteSpace(KeyFile) && IsPem(Certificate) && !File.ReadAllText(Certificate).Contains("PRIVATE KEY", StringComparison.Ordinal))
                    {
                        errors.Add((nameof(Certificate), $"'{Certificate}' is a PEM certificate without its key: give the key file too (KeyFile, --tls-key), or a PKCS#12 bundle"));
                    }
                    else
                    {
                        using var cert = LoadCertificate();
                        if (!cert.HasPrivateKey)
                        {
                            errors.Add((nameof(Certificate), $"'{Certificate}' holds no private key (give a PKCS#12 bundle, or the PEM key with the key file setting)"));
                        }
                        else if (DateTime.Now > cert.NotAfter)
                        {
                            errors.Add((nameof(Certificate), $"'{Certificate}' expired on {cert.NotAfter.ToUniversalTime():u}"));
                        }
                    }
                }
                catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException
                    && string.IsNullOrEmpty(Password) && EncryptedKeyFile() is { } encrypted)
                {
                    errors.Add((nameof(Password), $"'{encrypted}' holds an encrypted private key: give its password (--tls-password-file, Omig__Tls__Password or OMIG_TLS_PASSWORD)"));
                }
                catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException && EncryptedKeyFile() is { } encrypted)
                {
                    errors.Add((nameof(Password), $"'{encrypted}' holds an encrypted private key and the password does not decrypt it"));
                }
                catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
                {
                    errors.Add((nameof(Certificate), $"cannot read '{Certificate}'{(string.IsNullOrWhiteSpace(KeyFile) ? string.Empty : $" with key '{KeyFile}'")}: " +
                        "not a PKCS#12 or PEM certificate with its key, or the password is wrong"));
                }
            }
        }

        if (string.IsNullOrWhiteSpace(CaCertificate))
        {
            errors.Add((nameof(CaCertificate), "required with TLS: the CA (PEM) that every peer's certificate must chain to"));
        }
        else if (!File.Exists(CaCertificate))
        {
            errors.Add((nameof(CaCertificate), $"file '{CaCertificate}' does not exist"));
        }
        else
        {
            try
            {
                _ = LoadCa();
            }
            catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException)
            {
                errors.Add((nameof(CaCertificate), $"cannot read '{CaCertificate}': {ex.Message}"));
            }
        }

        return errors;
    }

    /// <summary>Loads <see cref="Certificate"/> with its private key (PKCS#12, or PEM with <see cref="KeyFile"/>). A
    /// password is used only where the key is encrypted: an unencrypted PEM key or PKCS#12 file loads whether or not
    /// one is set (e.g. <c>OMIG_TLS_PASSWORD</c> exported for the cluster's other, encrypted files).</summary>
    public X509Certificate2 LoadCertificate()
    {
        var path = Certificate ?? throw new InvalidOperationException("no TLS certificate configured");
        var password = string.IsNullOrEmpty(Password) ? null : Password;
        if (!string.IsNullOrWhiteSpace(KeyFile))
        {
            using var pem = IsEncryptedPem(KeyFile) && password is not null
                ? X509Certificate2.CreateFromEncryptedPemFile(path, password, KeyFile)
                : X509Certificate2.CreateFromPemFile(path, KeyFile);

            // SslStream wants a key it can use for the handshake on every platform: go through PKCS#12 once.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }

        if (IsPem(path))
        {
            // A PEM file holding both the certificate and its key.
            using var pem = IsEncryptedPem(path) && password is not null
                ? X509Certificate2.CreateFromEncryptedPemFile(path, password)
                : X509Certificate2.CreateFromPemFile(path);
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }

        try
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, password);
        }
        catch (CryptographicException) when (password is not null)
        {
            // A PKCS#12 file made without a password loads without one; if it does not, the first error stands.
            try
            {
                return X509CertificateLoader.LoadPkcs12FromFile(path, null);
            }
            catch (CryptographicException)
            {
            }

            throw;
        }
    }

    /// <summary>The CA certificates of <see cref="CaCertificate"/>; throws <see cref="InvalidDataException"/> when it holds none.</summary>
    public X509Certificate2Collection LoadCa()
    {
        var path = CaCertificate ?? throw new InvalidOperationException("no TLS CA configured");
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(path);
        if (roots.Count == 0)
        {
            throw new InvalidDataException("no PEM certificate in the file");
        }

        return roots;
    }

    /// <summary>The PEM file among <see cref="KeyFile"/> and <see cref="Certificate"/> that holds an encrypted key, if any.</summary>
    private string? EncryptedKeyFile()
    {
        try
        {
            return new[] { KeyFile, Certificate }.FirstOrDefault(f => !string.IsNullOrWhiteSpace(f) && File.Exists(f) && IsEncryptedPem(f));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static bool IsEncryptedPem(string path) =>
        IsPem(path) && File.ReadAllText(path).Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal);

    private static bool IsPem(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> head = stackalloc byte[64];
        var n = stream.Read(head);
        return System.Text.Encoding.ASCII.GetString(head[..n]).Contains("-----BEGIN", StringComparison.Ordinal);
    }
}

/// <summary>Validation of a peer's certificate against the cluster's own CA, and nothing else.</summary>
public static class TlsPeerValidation
{
    /// <summary>
    /// True when <paramref name="remote"/> chains to one of <paramref name="roots"/> (custom root trust: the
    /// machine's trust store counts for nothing) and is valid now. Intermediates the peer sent are used to build the
    /// chain but never trusted by themselves. Names are not checked: a peer is a cluster member by holding a
    /// certificate the cluster's CA issued. Revocation is not checked (a private CA without a CRL; rotate instead).
    /// </summary>
    public static bool IsTrusted(X509Certificate2 remote, X509Chain? presented, X509Certificate2Collection roots)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                if (!element.Certificate.RawDataMemory.Span.SequenceEqual(remote.RawDataMemory.Span))
                {
                    chain.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }
        }

        return chain.Build(remote);
    }

    /// <summary>A validator for Orleans' <c>TlsOptions.RemoteCertificateValidation</c> that ignores the platform's verdict
    /// (which trusts the machine's store and checks names) and applies <see cref="IsTrusted"/> instead.</summary>
    public static Func<X509Certificate2, X509Chain?, SslPolicyErrors, bool> For(X509Certificate2Collection roots) =>
        (certificate, chain, _) => IsTrusted(certificate, chain, roots);
}
