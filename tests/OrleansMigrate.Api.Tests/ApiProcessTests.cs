using OrleansMigrate.Testing;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace OrleansMigrate.Api.Tests;

/// <summary>
/// <c>omig-api</c>, the API as its own process: an Orleans client of a silo process (started without <c>--api-port</c>,
/// so the API's own grains — idempotency keys, the API audit log — can only be the silo's), serving the same /v1.
/// Bad options stop it with one line and exit 2; an unreachable cluster with exit 1.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Slow)] // starts silo and API processes
public sealed class ApiProcessTests
{
    private static readonly string Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
    private static readonly string Hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Key)));

    internal static string[] OperatorKey => ["--OmigApi:Keys:0:Name=ops", $"--OmigApi:Keys:0:Sha256={Hash}", "--OmigApi:Keys:0:Role=operator"];

    internal static string Bearer => Key;

    [Fact]
    public async Task The_api_process_serves_v1_against_a_silo_process_through_the_orleans_client()
    {
        var clusterId = $"api-proc-{Guid.NewGuid():N}";
        var gateway = FreePorts.Next();
        await using var silo = await ApiProcesses.SiloAsync(clusterId, gateway);
        Assert.DoesNotContain("HTTP API", silo.Output, StringComparison.Ordinal);

        var port = FreePorts.Next();
        await using var api = ApiProcesses.Start(ApiProcesses.ApiDll, ["--gateway", $"{gateway}", "--cluster-id", clusterId, "--api-port", $"{port}", .. OperatorKey]);
        await api.WaitForAsync("omig-api up: ", TimeSpan.FromSeconds(120));
        Assert.Contains($"HTTP API at http://127.0.0.1:{port}/ (1 API key(s)), cluster '{clusterId}'", api.Output, StringComparison.Ordinal);

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(60) };
        using (var anonymous = await http.GetAsync("v1/hosts"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        const string body = """{"host_id":"h-proc","cores":8,"memory_mib":8192}""";
        string first;
        using (var created = await Post(http, "v1/hosts", body, "idem-proc-1"))
        {
            first = await created.Content.ReadAsStringAsync();
            Assert.True(created.StatusCode == HttpStatusCode.Created, first);
        }

        // The same key and body: the stored answer, from the idempotency grain in the silo.
        using (var replay = await Post(http, "v1/hosts", body, "idem-proc-1"))
        {
            Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
            Assert.Equal(first, await replay.Content.ReadAsStringAsync());
        }

        using (var got = await http.GetAsync("v1/hosts/h-proc"))
        {
            var json = await ApiFixture.ReadJsonAsync(got);
            Assert.Equal(HttpStatusCode.OK, got.StatusCode);
            Assert.Equal("h-proc", json.GetProperty("host_id").GetString());
            Assert.Equal(8, json.GetProperty("spec").GetProperty("cores").GetInt32());
        }

        // The audit log (a grain in the silo) recorded the create under the key's name.
        var log = await http.GetStringAsync("v1/audit-log");
        Assert.Contains("/v1/hosts", log, StringComparison.Ordinal);
        Assert.Contains("\"ops\"", log, StringComparison.Ordinal);
        using var console = await http.GetAsync("console/");
        Assert.Equal(HttpStatusCode.OK, console.StatusCode);
    }

    [Fact]
    public async Task Bad_options_and_an_unreachable_cluster_stop_it_with_one_line()
    {
        var (code, output) = await ApiProcesses.RunToExitAsync(ApiProcesses.ApiDll, "--api-insecure-no-auth");
        Assert.Equal(2, code);
        Assert.Contains("--api-port: required", output, StringComparison.Ordinal);

        (code, output) = await ApiProcesses.RunToExitAsync(ApiProcesses.ApiDll, "--api-port", "70000", "--api-insecure-no-auth");
        Assert.Equal(2, code);
        Assert.Contains("OmigApi:Port: 70000 is not a TCP port", output, StringComparison.Ordinal);

        (code, output) = await ApiProcesses.RunToExitAsync(ApiProcesses.ApiDll, "--api-port", "8080", "--gateway", "3x", "--api-insecure-no-auth");
        Assert.Equal(2, code);
        Assert.Contains("Omig:Gateways: '3x' is not", output, StringComparison.Ordinal);

        (code, output) = await ApiProcesses.RunToExitAsync(ApiProcesses.ApiDll, "--api-port", "8080", "--bogus");
        Assert.Equal(2, code);
        Assert.Contains("--bogus: unknown argument", output, StringComparison.Ordinal);

        (code, output) = await ApiProcesses.RunToExitAsync(ApiProcesses.ApiDll, "--api-port", "8080");
        Assert.Equal(2, code);
        Assert.Contains("no API key is configured", output, StringComparison.Ordinal);

        (code, output) = await ApiProcesses.RunToExitAsync(ApiProcesses.ApiDll,
            "--api-port", $"{FreePorts.Next()}", "--gateway", $"{FreePorts.Next()}", "--connect-timeout", "2", "--api-insecure-no-auth");
        Assert.Equal(1, code);
        Assert.Contains("omig-api: failed to start: cannot connect to the cluster", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    internal static async Task<HttpResponseMessage> Post(HttpClient http, string path, string body, string idempotencyKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = ApiFixture.RawJson(body) };
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        return await http.SendAsync(request);
    }
}
