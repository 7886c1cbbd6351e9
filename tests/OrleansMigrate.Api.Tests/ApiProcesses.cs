using OrleansMigrate.Testing;
using OrleansMigrate.Tests.Shared;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OrleansMigrate.Api.Tests;

/// <summary>Starts the built <c>omig-silo</c> and <c>omig-api</c> programs for <see cref="ApiProcessTests"/>: each a
/// child process with its output collected, waited for (bounded) until its "up" line, killed with its tree on dispose.</summary>
internal static class ApiProcesses
{
    public static string Dll(string project, string folder, string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var config in new[] { "Release", "Debug" })
            {
                var path = Path.Combine(dir.FullName, folder, project, "bin", config, "net10.0", name + ".dll");
                if (File.Exists(path))
                {
                    return path;
                }
            }
        }

        throw new InvalidOperationException($"{name}.dll is not built: build tests/OrleansMigrate.Api.Tests (it builds {project})");
    }

    public static string SiloDll => Dll("OrleansMigrate.Silo", "silo", "omig-silo");

    public static string ApiDll => Dll("OrleansMigrate.ApiHost", "src", "omig-api");

    public static RunningProcess Start(string dll, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        return new RunningProcess(Process.Start(psi)!);
    }

    /// <summary>A silo (in-memory storage, all roles, no HTTP API) on its own gateway port, up.</summary>
    public static async Task<RunningProcess> SiloAsync(string clusterId, int gatewayPort, params string[] extra)
    {
        var silo = Start(SiloDll, ["--name", "api-proc-silo", "--role", "all", "--storage", "memory", "--cluster-id", clusterId,
            "--silo-port", $"{FreePorts.Next()}", "--gateway-port", $"{gatewayPort}", "--audit-interval", "0", .. extra]);
        await silo.WaitForAsync(" up: role ", TimeSpan.FromSeconds(120));
        return silo;
    }

    /// <summary>Runs a program to its exit (at most 60 s): its exit code and output.</summary>
    public static async Task<(int Code, string Output)> RunToExitAsync(string dll, params string[] args)
    {
        await using var run = Start(dll, args);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await run.Process.WaitForExitAsync(cts.Token); // returns once the output readers have seen the last lines
        return (run.Process.ExitCode, run.Output);
    }
}

internal sealed class RunningProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();

    public RunningProcess(Process process)
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

    /// <summary>Waits until the output contains <paramref name="text"/>; fails with the output if the process exits or time runs out.</summary>
    public async Task WaitForAsync(string text, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            await Eventually.TrueAsync(() =>
            {
                var seen = Output.Contains(text, StringComparison.Ordinal);
                Assert.False(!seen && Process.HasExited, $"'{text}' not seen (exited: True, after {clock.Elapsed.TotalSeconds:0} s):\n{Output}");
                return seen;
            }, limit, $"'{text}' in the output", TimeSpan.FromMilliseconds(200));
        }
        catch (TimeoutException)
        {
            Assert.Fail($"'{text}' not seen (exited: {Process.HasExited}, after {clock.Elapsed.TotalSeconds:0} s):\n{Output}");
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
