using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Security;

namespace OrleansMigrate.Tests.Hosting;

/// <summary>The <c>Omig:Tls</c> settings: checked at start with errors naming the key, secrets never in a message, and
/// a peer trusted only when its certificate chains to the configured CA.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class TlsOptionsTests : IDisposable
{
    private const string TlsSecret = "tls-s3cret-Zq9";
    private const string PgSecret = "pg-s3cret-Xw7";

    private readonly TestCertificates _certs = new();

    public void Dispose() => _certs.Dispose();

    private static OmigSiloOptions Silo(Action<OmigTlsOptions> tls)
    {
        var o = new OmigSiloOptions();
        tls(o.Tls);
        return o;
    }

    private static List<string> TlsErrors(OmigSiloOptions o) =>
        OmigSiloOptionsValidator.Check(o).Where(e => e.StartsWith("Omig:Tls:", StringComparison.Ordinal)).ToList();

    [Fact]
    public void TLS_is_off_by_default_and_a_default_silo_is_valid()
    {
        var o = new OmigSiloOptions();

        Assert.False(o.Tls.SiloTlsOn);
        Assert.False(o.Tls.ClientTlsOn);
        Assert.Empty(OmigSiloOptionsValidator.Check(o));
    }

    [Fact]
    public void A_PKCS12_bundle_with_its_password_and_the_CA_is_valid_and_turns_TLS_on()
    {
        var ca = _certs.MakeCa("ca");
        _certs.MakeLeaf(ca, "silo", TlsSecret);
        var o = Silo(t => { t.Certificate = _certs.PathOf("silo.pfx"); t.Password = TlsSecret; t.CaCertificate = _certs.PathOf("ca.pem"); });

        Assert.Empty(OmigSiloOptionsValidator.Check(o));
        Assert.True(o.Tls.SiloTlsOn);
        using var loaded = o.Tls.LoadCertificate();
        Assert.True(loaded.HasPrivateKey);
        Assert.Single(o.Tls.LoadCa());
    }

    [Fact]
    public void A_PEM_certificate_with_its_key_file_is_valid()
    {
        var ca = _certs.MakeCa("ca");
        _certs.MakeLeaf(ca, "silo", null);
        var o = Silo(t => { t.Certificate = _certs.PathOf("silo.crt"); t.KeyFile = _certs.PathOf("silo.key"); t.CaCertificate = _certs.PathOf("ca.pem"); });

        Assert.Empty(OmigSiloOptionsValidator.Check(o));
        using var loaded = o.Tls.LoadCertificate();
        Assert.True(loaded.HasPrivateKey);
    }

    [Fact]
    public void Disabled_TLS_ignores_even_missing_files()
    {
        var o = Silo(t => { t.Enabled = false; t.Certificate = "/nonexistent/silo.pfx"; t.CaCertificate = "/nonexistent/ca.pem"; });

        Assert.Empty(OmigSiloOptionsValidator.Check(o));
        Assert.False(o.Tls.SiloTlsOn);
    }

    [Fact]
    public void Missing_files_are_named_with_their_key()
    {
        var errors = TlsErrors(Silo(t => { t.Certificate = "/nonexistent/silo.pfx"; t.CaCertificate = "/nonexistent/ca.pem"; }));

        Assert.Contains("Omig:Tls:Certificate: file '/nonexistent/silo.pfx' does not exist", errors);
        Assert.Contains("Omig:Tls:CaCertificate: file '/nonexistent/ca.pem' does not exist", errors);
    }

    [Fact]
    public void A_missing_key_file_is_named()
    {
        var ca = _certs.MakeCa("ca");
        _certs.MakeLeaf(ca, "silo", null);

        var errors = TlsErrors(Silo(t => { t.Certificate = _certs.PathOf("silo.crt"); t.KeyFile = "/nonexistent/silo.key"; t.CaCertificate = _certs.PathOf("ca.pem"); }));

        Assert.Equal(["Omig:Tls:KeyFile: file '/nonexistent/silo.key' does not exist"], errors);
    }

    [Fact]
    public void A_certificate_needs_the_CA_and_the_CA_needs_a_certificate()
    {
        var ca = _certs.MakeCa("ca");
        _certs.MakeLeaf(ca, "silo", null);

        Assert.Equal(["Omig:Tls:CaCertificate: required with TLS: the CA (PEM) that every peer's certificate must chain to"],
            TlsErrors(Silo(t => t.Certificate = _certs.PathOf("silo.pfx"))));
        Assert.Contains(TlsErrors(Silo(t => t.CaCertificate = _certs.PathOf("ca.pem"))),
            e => e.StartsWith("Omig:Tls:Certificate: required", StringComparison.Ordinal));
    }

    [Fact]
    public void A_PEM_certificate_without_its_key_is_refused_with_the_hint()
    {
        var ca = _certs.MakeCa("ca");
        _certs.MakeLeaf(ca, "silo", null);

        var errors = TlsErrors(Silo(t => { t.Certificate = _certs.PathOf("silo.crt"); t.CaCertificate = _certs.PathOf("ca.pem"); }));

        var error = Assert.Single(errors);
        Assert.StartsWith("Omig:Tls:Certificate:", error, StringComparison.Ordinal);
        Assert.Contains("without its key", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Files_that_are_not_certificates_are_refused()
    {
        File.WriteAllText(_certs.PathOf("junk.pfx"), "not a certificate");
        File.WriteAllText(_certs.PathOf("junk.pem"), "not a certificate either");

        var errors = TlsErrors(Silo(t => { t.Certificate = _certs.PathOf("junk.pfx"); t.CaCertificate = _certs.PathOf("junk.pem"); }));

        Assert.Contains(errors, e => e.StartsWith("Omig:Tls:Certificate: cannot read", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Omig:Tls:CaCertificate: cannot read", StringComparison.Ordinal));
    }

    [Fact]
    public void An_unencrypted_key_loads_even_with_a_password_set_as_make_certs_readers_have_it_exported()
    {
        var ca = _certs.MakeCa("ca");
        _certs.MakeLeaf(ca, "silo", null);
        var pem = Silo(t => { t.Certificate = _certs.PathOf("silo.crt"); t.KeyFile = _certs.PathOf("silo.key"); t.Password = TlsSecret; t.CaCertificate = _certs.PathOf("ca.pem"); });
        var pfx = Silo(t => { t.Certificate = _certs.PathOf("silo.pfx"); t.Password = TlsSecret; t.CaCertificate = _certs.PathOf("ca.pem"); });

        foreach (var o in new[] { pem, pfx })
        {
            Assert.Empty(OmigSiloOptionsValidator.Check(o));
            using var loaded = o.Tls.LoadCertificate();
            Assert.True(loaded.HasPrivateKey);
        }
    }

    [Fact]
    public void An_encrypted_key_without_its_password_or_with_a_wrong_one_is_named_precisely()
    {
        var ca = _certs.MakeCa("ca");
        _certs.MakeLeaf(ca, "silo", null);
        using (var key = System.Security.Cryptography.ECDsa.Create())
        {
            key.ImportFromPem(File.ReadAllText(_certs.PathOf("silo.key")));
            File.WriteAllText(_certs.PathOf("silo.enc.key"), key.ExportEncryptedPkcs8PrivateKeyPem("the-right-one",
                new System.Security.Cryptography.PbeParameters(System.Security.Cryptography.PbeEncryptionAlgorithm.Aes256Cbc, System.Security.Cryptography.HashAlgorithmName.SHA256, 100_000)));
        }

        void Tls(OmigTlsOptions t, string? password)
        {
            t.Certificate = _certs.PathOf("silo.crt");
            t.KeyFile = _certs.PathOf("silo.enc.key");
            t.Password = password;
            t.CaCertificate = _certs.PathOf("ca.pem");
        }

        Assert.Empty(OmigSiloOptionsValidator.Check(Silo(t => Tls(t, "the-right-one"))));
        var none = Assert.Single(TlsErrors(Silo(t => Tls(t, null))));
        Assert.Contains("Omig:Tls:Password: ", none, StringComparison.Ordinal);
        Assert.Contains("encrypted private key: give its password", none, StringComparison.Ordinal);
        var wrong = Assert.Single(TlsErrors(Silo(t => Tls(t, TlsSecret))));
        Assert.Contains("the password does not decrypt it", wrong, StringComparison.Ordinal);
        Assert.DoesNotContain(TlsSecret, wrong, StringComparison.Ordinal);
    }

    [Fact]
    public void An_expired_certificate_is_refused()
    {
        var ca = _certs.MakeCa("ca");
        _certs.MakeLeaf(ca, "old", null, notAfter: DateTimeOffset.UtcNow.AddDays(-1));

        var error = Assert.Single(TlsErrors(Silo(t => { t.Certificate = _certs.PathOf("old.pfx"); t.CaCertificate = _certs.PathOf("ca.pem"); })));

        Assert.Contains("expired", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Secrets_never_appear_in_validator_errors_or_in_the_options_text()
    {
        var ca = _certs.MakeCa("ca");
        _certs.MakeLeaf(ca, "silo", "the-right-one");
        var o = new OmigSiloOptions
        {
            Role = "all", Hosts = "h-1", Storage = "postgres", SiloPort = 0,
            ConnectionString = $"Host=127.0.0.1;Database=x;Username=omig;Password={PgSecret}",
        };
        o.Tls.Certificate = _certs.PathOf("silo.pfx");
        o.Tls.Password = TlsSecret; // wrong: the load fails, and its error must not quote it
        o.Tls.CaCertificate = _certs.PathOf("ca.pem");

        var errors = OmigSiloOptionsValidator.Check(o);

        Assert.Contains(errors, e => e.StartsWith("Omig:Tls:Certificate: cannot read", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Omig:SiloPort:", StringComparison.Ordinal));
        var text = string.Join("\n", errors) + "\n" + o.Tls + "\n" + o;
        Assert.DoesNotContain(TlsSecret, text, StringComparison.Ordinal);
        Assert.DoesNotContain(PgSecret, text, StringComparison.Ordinal);
        Assert.Contains("Password=(set)", o.Tls.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_wrong_password_in_a_client_check_does_not_appear_either()
    {
        var ca = _certs.MakeCa("ca");
        _certs.MakeLeaf(ca, "client", "the-right-one");
        var tls = new OmigTlsOptions { Certificate = _certs.PathOf("client.pfx"), Password = TlsSecret, CaCertificate = _certs.PathOf("ca.pem") };

        var errors = tls.Check(certificateRequired: false);

        var (key, reason) = Assert.Single(errors);
        Assert.Equal("Certificate", key);
        Assert.DoesNotContain(TlsSecret, reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_client_may_go_without_a_certificate_but_not_without_the_CA()
    {
        var ca = _certs.MakeCa("ca");
        _certs.MakeLeaf(ca, "client", null);

        Assert.Empty(new OmigTlsOptions { CaCertificate = _certs.PathOf("ca.pem") }.Check(certificateRequired: false));
        Assert.Equal(["CaCertificate"], new OmigTlsOptions { Certificate = _certs.PathOf("client.pfx") }.Check(certificateRequired: false).Select(e => e.Key));
    }

    [Fact]
    public void A_peer_is_trusted_only_with_a_valid_certificate_from_the_configured_CA()
    {
        var ca = _certs.MakeCa("ca");
        var other = _certs.MakeCa("other-ca");
        using var good = _certs.MakeLeaf(ca, "good", null);
        using var foreign = _certs.MakeLeaf(other, "foreign", null);
        using var expired = _certs.MakeLeaf(ca, "expired", null, notAfter: DateTimeOffset.UtcNow.AddDays(-1));
        using var selfSigned = _certs.MakeSelfSigned("self", null);
        var roots = new OmigTlsOptions { CaCertificate = _certs.PathOf("ca.pem") }.LoadCa();

        Assert.True(TlsPeerValidation.IsTrusted(good, null, roots));
        Assert.False(TlsPeerValidation.IsTrusted(foreign, null, roots));
        Assert.False(TlsPeerValidation.IsTrusted(expired, null, roots));
        Assert.False(TlsPeerValidation.IsTrusted(selfSigned, null, roots));

        // A CA bundle (rotation): certificates of both CAs are trusted.
        File.WriteAllText(_certs.PathOf("bundle.pem"), File.ReadAllText(_certs.PathOf("ca.pem")) + File.ReadAllText(_certs.PathOf("other-ca.pem")));
        var both = new OmigTlsOptions { CaCertificate = _certs.PathOf("bundle.pem") }.LoadCa();
        Assert.True(TlsPeerValidation.IsTrusted(foreign, null, both));
    }
}
