using OrleansMigrate.Testing;
using OrleansMigrate.Tests.Shared;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace OrleansMigrate.Api.Tests;

/// <summary>
/// The omig-silo program (in-memory storage, one process): <c>--api-port</c> serves the API with the configured keys;
/// without it no API runs and the silo starts as before. Each silo is killed at the end of its test.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Slow)] // starts silo and API processes
public sealed class SiloHostingTests
{
    [Fact]
    public async Task With_api_port_the_silo_serves_the_api_with_its_keys()
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
        var port = FreePorts.Next();
        await using var silo = await SiloAsync("--api-port", $"{port}", "--OmigApi:Keys:0:Name=ops", $"--OmigApi:Keys:0:Sha256={hash}", "--OmigApi:Keys:0:Role=operator");
        Assert.Contains($"HTTP API on 127.0.0.1:{port} (1 API key(s))", silo.Output, StringComparison.Ordinal);

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(30) };
        using (var anonymous = await http.GetAsync("v1/hosts"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var created = await http.PostAsync("v1/hosts", ApiFixture.RawJson("""{"host_id":"h-silo","cores":8,"memory_mib":8192}"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        using var got = await http.GetAsync("v1/hosts/h-silo");
        Assert.Equal(HttpStatusCode.OK, got.StatusCode);
    }

    [Fact]
    public async Task Without_api_port_no_api_runs_and_with_it_but_no_key_the_silo_refuses_to_start()
    {
        await using (var silo = await SiloAsync())
        {
            Assert.DoesNotContain("HTTP API", silo.Output, StringComparison.Ordinal);
        }

        var (code, output) = await RunToExitAsync("--api-port", $"{FreePorts.Next()}");
        Assert.Equal(2, code);
        Assert.Contains("--api-insecure-no-auth", output, StringComparison.Ordinal);
    }

    private static string SiloDll
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                foreach (var config in new[] { "Release", "Debug" })
                {
                    var path = Path.Combine(dir.FullName, "silo", "OrleansMigrate.Silo", "bin", config, "net10.0", "omig-silo.dll");
                    if (File.Exists(path))
                    {
                        return path;
                    }
                }
            }

            throw new InvalidOperationException("omig-silo.dll is not built: build tests/OrleansMigrate.Api.Tests (it builds the silo)");
        }
    }

    private static ProcessStartInfo Start(string[] extra)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])[SiloDll, "--name", "api-host-test", "--role", "all", "--storage", "memory", "--cluster-id", $"api-{Guid.NewGuid():N}",
                     "--silo-port", $"{FreePorts.Next()}", "--gateway-port", $"{FreePorts.Next()}", "--audit-interval", "0", .. extra])
        {
            psi.ArgumentList.Add(a);
        }

        return psi;
    }

    /// <summary>Starts the silo and waits (at most 120 s) for its "up" line.</summary>
    private static async Task<RunningSilo> SiloAsync(params string[] extra)
    {
        var process = Process.Start(Start(extra))!;
        var silo = new RunningSilo(process);
        try
        {
            await Eventually.TrueAsync(() => silo.Output.Contains(" up: role ", StringComparison.Ordinal) || process.HasExited, TimeSpan.FromSeconds(120),
                "omig-silo comes up", TimeSpan.FromMilliseconds(200));
        }
        catch (TimeoutException)
        {
        }

        if (!silo.Output.Contains(" up: role ", StringComparison.Ordinal))
        {
            await silo.DisposeAsync();
            Assert.Fail($"omig-silo did not come up (exited: {process.HasExited}):\n{silo.Output}");
        }

        // A fixed delay: the API line, when there is one, follows the up line; without --api-port there is none to wait
        // for, and a test checks that none comes.
        await Task.Delay(500);
        return silo;
    }

    private static async Task<(int Code, string Output)> RunToExitAsync(params string[] extra)
    {
        await using var silo = new RunningSilo(Process.Start(Start(extra))!);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await silo.Process.WaitForExitAsync(cts.Token); // returns once the output readers have seen the last lines
        return (silo.Process.ExitCode, silo.Output);
    }

    /// <summary>A silo process with its output collected; killed (with its tree) on dispose.</summary>
    private sealed class RunningSilo : IAsyncDisposable
    {
        private readonly StringBuilder _output = new();

        public RunningSilo(Process process)
        {
            Process = process;
            process.OutputDataReceived += (_, e) => Append(e.Data);
            process.ErrorDataReceived += (_, e) => Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString();
                }
            }
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_output)
                {
                    _output.AppendLine(line);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await Process.WaitForExitAsync(cts.Token);
            }

            Process.Dispose();
        }
    }
}
