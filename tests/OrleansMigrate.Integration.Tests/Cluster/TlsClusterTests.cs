using OrleansMigrate.Testing;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Security;
using OrleansMigrate.Tests.Hosting;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Cluster;

/// <summary>
/// Two silo processes on PostgreSQL running mutual TLS with certificates from <c>deploy/tls/make-certs.sh</c>: silo to
/// silo and client to gateway over TLS; clients without a certificate, without TLS, or with a certificate from another
/// CA are refused.
/// </summary>
[Collection(PostgresCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Postgres)]
public sealed class TlsClusterTests(PostgresFixture pg) : IDisposable
{
    private const string Password = "omig-it-Tls-9f3e";

    private static readonly TimeSpan RefusalLimit = TimeSpan.FromSeconds(45);

    private readonly TestCertificates _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task A_mutual_TLS_cluster_serves_clients_with_a_certificate_from_its_CA_and_refuses_every_other_client()
    {
        // The documented set-up: the script makes the CA and one certificate per silo and client.
        var certs = _dir.PathOf("cluster");
        var (made, _, madeErr) = await ProcessRunner.RunAsync("env",
            [$"OMIG_TLS_PASSWORD={Password}", Path.Combine(RepoPaths.Root, "deploy/tls/make-certs.sh"), certs, "silo-a", "silo-b", "client"],
            TimeSpan.FromMinutes(1));
        Assert.True(made == 0, madeErr);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(certs));
        foreach (var secret in new[] { "ca.key", "silo-a.key", "silo-a.pfx", "silo-b.pfx", "client.key", "client.pfx" })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(certs, secret)));
        }

        var ca = Path.Combine(certs, "ca.pem");
        string[] SiloTls(string name) => ["--tls-cert", Path.Combine(certs, name + ".pfx"), "--tls-password", Password, "--tls-ca", ca];
        var good = new OmigTlsOptions { Certificate = Path.Combine(certs, "client.pfx"), Password = Password, CaCertificate = ca };

        var clusterId = "it-tls-" + Guid.NewGuid().ToString("N")[..8];
        await using var a = new SiloProcess("silo-a", "all", "h-1", pg.ConnectionString, clusterId, SiloTls("silo-a"));
        await using var b = new SiloProcess("silo-b", "all", "h-2", pg.ConnectionString, clusterId, SiloTls("silo-b"));
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        Assert.Contains("tls mutual", a.Output, StringComparison.Ordinal);

        // The CLI with the client certificate registers hosts.
        var cli = new OmigCli(pg.ConnectionString, clusterId, "--tls-cert", good.Certificate, "--tls-password", Password, "--tls-ca", ca);
        await cli.JsonAsync("host", "add", "h-1", "--cores", "8", "--memory", "16G");
        await cli.JsonAsync("host", "add", "h-2", "--cores", "8", "--memory", "16G");

        // The client library with the client certificate: both silos joined each other over TLS, and a call to
        // h-2's agent (pinned to silo-b) crosses between them whichever gateway the client uses.
        await using (var client = await ConnectAsync(clusterId, good).WaitAsync(RefusalLimit))
        {
            var hosts = await client.ListHostsAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(["h-1", "h-2"], hosts.Select(h => h.Spec.HostId).Order().ToArray());
            var active = await Eventually.UntilAsync(async () =>
                {
                    var silos = await client.GetSilosAsync().WaitAsync(TimeSpan.FromSeconds(30));
                    return silos.Where(s => s.Status.Equals("active", StringComparison.OrdinalIgnoreCase)).Select(s => s.Name).Order().ToArray();
                }, names => names.Length >= 2, TimeSpan.FromSeconds(30), "both silos are active", TimeSpan.FromMilliseconds(500));

            Assert.Equal(["silo-a", "silo-b"], active);
            Assert.Equal("silo-b", (await client.GetHostAgentAsync("h-2").WaitAsync(TimeSpan.FromSeconds(30))).SiloName);
            Assert.Equal("silo-a", (await client.GetHostAgentAsync("h-1").WaitAsync(TimeSpan.FromSeconds(30))).SiloName);
        }

        // Refused: TLS but no client certificate; no TLS at all; a certificate from another CA; a self-signed one.
        await AssertRefusedAsync(clusterId, new OmigTlsOptions { CaCertificate = ca });
        await AssertRefusedAsync(clusterId, new OmigTlsOptions());
        var other = _dir.MakeCa("other-ca");
        _dir.MakeLeaf(other, "intruder", null);
        await AssertRefusedAsync(clusterId, new OmigTlsOptions { Certificate = _dir.PathOf("intruder.pfx"), CaCertificate = ca });
        _dir.MakeSelfSigned("self", null);
        await AssertRefusedAsync(clusterId, new OmigTlsOptions { Certificate = _dir.PathOf("self.pfx"), CaCertificate = ca });

        // The client checks the silos too: with a valid certificate but trusting only another CA it refuses the gateways.
        await AssertRefusedAsync(clusterId, new OmigTlsOptions { Certificate = good.Certificate, Password = Password, CaCertificate = _dir.PathOf("other-ca.pem") });

        // The CLI without a certificate: unavailable (exit 7).
        var (code, _, stderr) = await new OmigCli(pg.ConnectionString, clusterId, "--tls-ca", ca).RunAsync("host", "list");
        Assert.True(code == 7, $"expected exit 7, got {code}: {stderr}");

        // The refusals were the silos' TLS handshakes, and the silos still serve the good client afterwards.
        Assert.Contains("Authentication failed", a.Output + b.Output, StringComparison.Ordinal);
        var listed = await cli.JsonAsync("host", "list");
        Assert.Equal(2, listed.GetArrayLength());

        // Secrets: neither the certificate password nor the connection string (nor its password) in the silos' output.
        var pgPassword = pg.ConnectionString.Split(';').FirstOrDefault(p => p.StartsWith("Password=", StringComparison.OrdinalIgnoreCase))?["Password=".Length..];
        foreach (var silo in new[] { a, b })
        {
            Assert.DoesNotContain(Password, silo.Output, StringComparison.Ordinal);
            Assert.DoesNotContain(pg.ConnectionString, silo.Output, StringComparison.Ordinal);
            if (pgPassword is { Length: > 3 })
            {
                Assert.DoesNotContain(pgPassword, silo.Output, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task A_silo_given_a_wrong_certificate_password_exits_naming_the_key_without_quoting_the_password()
    {
        var certs = _dir.PathOf("cluster");
        var (made, _, madeErr) = await ProcessRunner.RunAsync("env",
            [$"OMIG_TLS_PASSWORD={Password}", Path.Combine(RepoPaths.Root, "deploy/tls/make-certs.sh"), certs, "silo-a"], TimeSpan.FromMinutes(1));
        Assert.True(made == 0, madeErr);
        const string Wrong = "not-the-Password-71";

        // The script's PEM pair loads too (unencrypted key, no password), with the certificate it says.
        var pem = new OmigTlsOptions { Certificate = Path.Combine(certs, "silo-a.pem"), KeyFile = Path.Combine(certs, "silo-a.key"), CaCertificate = Path.Combine(certs, "ca.pem") };
        Assert.Empty(pem.Check(certificateRequired: true));
        using (var loaded = pem.LoadCertificate())
        {
            Assert.Equal("CN=silo-a, O=OrleansMigrate", loaded.Subject);
            Assert.True(TlsPeerValidation.IsTrusted(loaded, null, pem.LoadCa()));
        }

        var (code, stdout, stderr) = await ProcessRunner.RunAsync("dotnet",
            [RepoPaths.SiloDll, "--storage", "postgres", "--connection-string", pg.ConnectionString, "--hosts", "h-1",
             "--tls-cert", Path.Combine(certs, "silo-a.pfx"), "--tls-password", Wrong, "--tls-ca", Path.Combine(certs, "ca.pem")],
            TimeSpan.FromSeconds(60));

        Assert.Equal(2, code);
        Assert.Contains("Omig:Tls:Certificate: cannot read", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(Wrong, stdout + stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(pg.ConnectionString, stdout + stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_silo_with_a_certificate_from_a_foreign_CA_stops_with_one_line_saying_its_peers_refused_it()
    {
        var certs = _dir.PathOf("cluster");
        var (made, _, madeErr) = await ProcessRunner.RunAsync("env",
            [$"OMIG_TLS_PASSWORD={Password}", Path.Combine(RepoPaths.Root, "deploy/tls/make-certs.sh"), certs, "silo-a"], TimeSpan.FromMinutes(1));
        Assert.True(made == 0, madeErr);
        var ca = Path.Combine(certs, "ca.pem");
        var clusterId = "it-tlsfor-" + Guid.NewGuid().ToString("N")[..8];
        await using var a = new SiloProcess("silo-a", "all", "h-1", pg.ConnectionString, clusterId,
            "--tls-cert", Path.Combine(certs, "silo-a.pfx"), "--tls-password", Password, "--tls-ca", ca);
        await a.StartAsync();

        // The intruder trusts the cluster's CA but holds a certificate another CA issued.
        var other = _dir.MakeCa("foreign-ca");
        _dir.MakeLeaf(other, "intruder", null);
        var (code, stdout, stderr) = await ProcessRunner.RunAsync("dotnet",
            [RepoPaths.SiloDll, "--name", "intruder", "--storage", "postgres", "--connection-string", pg.ConnectionString, "--hosts", "h-9",
             "--cluster-id", clusterId, "--service-id", clusterId, "--silo-port", $"{FreePorts.Next()}", "--gateway-port", $"{FreePorts.Next()}",
             "--tls-cert", _dir.PathOf("intruder.pfx"), "--tls-ca", ca],
            TimeSpan.FromMinutes(4));

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("omig-silo: failed to start: ", line, StringComparison.Ordinal);
        Assert.Contains("refused this silo's certificate", line, StringComparison.Ordinal);
        Assert.DoesNotContain("FATAL", stdout + stderr, StringComparison.Ordinal);
    }

    private OmigClientOptions Options(string clusterId, OmigTlsOptions tls) => new()
    {
        PostgresConnectionString = pg.ConnectionString,
        ClusterId = clusterId,
        ServiceId = clusterId,
        Tls = tls,
        ConnectTimeout = TimeSpan.FromSeconds(10),
    };

    private Task<OmigClient> ConnectAsync(string clusterId, OmigTlsOptions tls) => OmigClient.ConnectAsync(Options(clusterId, tls));

    /// <summary>The client must not get served: connecting fails as unavailable, or (should a connection ever be
    /// reported) the first call fails. Bounded by <see cref="RefusalLimit"/>.</summary>
    private async Task AssertRefusedAsync(string clusterId, OmigTlsOptions tls)
    {
        OmigClient client;
        try
        {
            client = await ConnectAsync(clusterId, tls).WaitAsync(RefusalLimit);
        }
        catch (OmigException ex)
        {
            Assert.True(ex.Code == OmigErrorCode.Unavailable, $"{tls}: expected unavailable, got {ex.Code}: {ex.Message}");
            return;
        }

        await using (client)
        {
            try
            {
                var hosts = await client.ListHostsAsync().WaitAsync(TimeSpan.FromSeconds(15));
                Assert.Fail($"a client with {tls} was served ({hosts.Length} hosts)");
            }
            catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
            {
                // Refused after all.
            }
        }
    }
}
