using System.Text.Json;

namespace OrleansMigrate.Tests;

/// <summary>Runs the real <c>omig</c> CLI against a PostgreSQL cluster; <paramref name="globalArgs"/> go before every command (e.g. the TLS switches).</summary>
public sealed class OmigCli(string connectionString, string clusterId, params string[] globalArgs)
{
    public Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args) => RunAsync(TimeSpan.FromSeconds(120), args);

    /// <summary>A command that may run long (<c>--wait</c>), killed after <paramref name="timeout"/>.</summary>
    public async Task<(int Code, string Stdout, string Stderr)> RunAsync(TimeSpan timeout, params string[] args)
    {
        // A generous connect timeout: on a loaded 2-core machine the CLI's own start (JIT, the Orleans client) can eat most
        // of the default 10 s, and a refused connection here is not what these tests test.
        string[] all = [RepoPaths.CliDll, "--postgres", connectionString, "--cluster-id", clusterId, "--connect-timeout", "60", .. globalArgs, .. args];
        return await ProcessRunner.RunAsync("dotnet", all, timeout);
    }

    /// <summary>Runs a command with --json, requires exit 0, and parses the output.</summary>
    public async Task<JsonElement> JsonAsync(params string[] args)
    {
        var (code, stdout, stderr) = await RunAsync([.. args, "--json"]);
        if (code != 0)
        {
            throw new InvalidOperationException($"omig {string.Join(' ', args)} exited {code}: {stderr}");
        }

        return JsonDocument.Parse(stdout).RootElement.Clone();
    }
}
