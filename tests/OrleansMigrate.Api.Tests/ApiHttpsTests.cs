using OrleansMigrate.Testing;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace OrleansMigrate.Api.Tests;

/// <summary>
/// HTTPS on the API port of a mutual-TLS cluster (certificates from <c>deploy/tls/make-certs.sh</c>): the silo's API serves
/// with the silo's certificate, <c>omig-api</c> with its client certificate (valid for 127.0.0.1 and chaining to the
/// cluster's CA), no client certificate asked of HTTP callers; plain HTTP only with <c>--api-insecure-http</c>, and an API
/// process with TLS to the cluster but no certificate of its own refuses to start.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Slow)] // starts silo and API processes
public sealed class ApiHttpsTests : IDisposable
{
    private const string Password = "api-https-test-pw";
    private readonly string _dir = Directory.CreateTempSubdirectory("omig-api-tls-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task On_a_TLS_cluster_the_api_serves_https_with_the_cluster_certificates_and_plain_http_only_when_asked()
    {
        var certs = await MakeCertsAsync("silo-a", "client");
        var ca = Path.Combine(certs, "ca.pem");
        var password = new Dictionary<string, string> { ["Omig__Tls__Password"] = Password };
        var clusterId = $"api-tls-{Guid.NewGuid():N}";
        var gateway = FreePorts.Next();
        var siloApi = FreePorts.Next();

        await using var silo = ApiProcesses.Start(ApiProcesses.SiloDll, ["--name", "api-tls-silo", "--role", "all", "--storage", "memory",
            "--cluster-id", clusterId, "--silo-port", $"{FreePorts.Next()}", "--gateway-port", $"{gateway}", "--audit-interval", "0",
            "--tls-cert", Path.Combine(certs, "silo-a.pfx"), "--tls-ca", ca, "--api-port", $"{siloApi}", .. ApiProcessTests.OperatorKey], password);
        await silo.WaitForAsync(" up: role ", TimeSpan.FromSeconds(120));
        await silo.WaitForAsync($"HTTP API on 127.0.0.1:{siloApi} over HTTPS", TimeSpan.FromSeconds(10));

        // The silo's API: HTTPS with the silo's certificate; the same port does not answer plain HTTP.
        using (var https = Client(ca, $"https://127.0.0.1:{siloApi}/"))
        {
            using var created = await ApiProcessTests.Post(https, "v1/hosts", """{"host_id":"h-tls","cores":4,"memory_mib":4096}""", "idem-tls-1");
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using (var plain = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{siloApi}/"), Timeout = TimeSpan.FromSeconds(30) })
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync("v1/hosts"));
        }

        // omig-api with TLS to the cluster but no certificate of its own: refused, naming the way out.
        var (code, output) = await ApiProcesses.RunToExitAsync(ApiProcesses.ApiDll, "--gateway", $"{gateway}", "--cluster-id", clusterId,
            "--tls-ca", ca, "--api-port", $"{FreePorts.Next()}", "--api-insecure-no-auth");
        Assert.Equal(2, code);
        Assert.Contains("--api-insecure-http", output, StringComparison.Ordinal);

        // omig-api with the client certificate: HTTPS with it, reading what the silo's API wrote.
        var port = FreePorts.Next();
        await using (var api = ApiProcesses.Start(ApiProcesses.ApiDll, ["--gateway", $"{gateway}", "--cluster-id", clusterId,
            "--tls-cert", Path.Combine(certs, "client.pfx"), "--tls-ca", ca, "--api-port", $"{port}", .. ApiProcessTests.OperatorKey], password))
        {
            await api.WaitForAsync("omig-api up: ", TimeSpan.FromSeconds(120));
            Assert.Contains($"HTTP API at https://127.0.0.1:{port}/", api.Output, StringComparison.Ordinal);
            using var https = Client(ca, $"https://127.0.0.1:{port}/");
            using var got = await https.GetAsync("v1/hosts/h-tls");
            Assert.Equal(HttpStatusCode.OK, got.StatusCode);
            Assert.Equal("h-tls", (await ApiFixture.ReadJsonAsync(got)).GetProperty("host_id").GetString());
        }

        // With --api-insecure-http: plain HTTP, by choice.
        var insecurePort = FreePorts.Next();
        await using (var api = ApiProcesses.Start(ApiProcesses.ApiDll, ["--gateway", $"{gateway}", "--cluster-id", clusterId,
            "--tls-cert", Path.Combine(certs, "client.pfx"), "--tls-ca", ca, "--api-port", $"{insecurePort}", "--api-insecure-http", .. ApiProcessTests.OperatorKey], password))
        {
            await api.WaitForAsync("omig-api up: ", TimeSpan.FromSeconds(120));
            using var plain = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{insecurePort}/"), Timeout = TimeSpan.FromSeconds(60) };
            plain.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiProcessTests.Bearer);
            using var got = await plain.GetAsync("v1/hosts/h-tls");
            Assert.Equal(HttpStatusCode.OK, got.StatusCode);
        }
    }

    /// <summary>An HTTPS client that trusts only the cluster's CA and checks the name (127.0.0.1) as any client would.</summary>
    private static HttpClient Client(string caPath, string address)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(caPath);
        var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                {
                    return false;
                }

                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(certificate);
            },
        };
        var http = new HttpClient(handler) { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiProcessTests.Bearer);
        return http;
    }

    private async Task<string> MakeCertsAsync(params string[] names)
    {
        var certs = Path.Combine(_dir, "certs");
        var script = Path.Combine(RepoRoot(), "deploy", "tls", "make-certs.sh");
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])[script, certs, .. names])
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["OMIG_TLS_PASSWORD"] = Password;
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(cts.Token);
        Assert.True(process.ExitCode == 0, await stderr);
        return certs;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OrleansMigrate.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("the repository root (OrleansMigrate.sln) is not above the test's directory");
    }
}
