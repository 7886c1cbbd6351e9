using OrleansMigrate.Testing;
using OrleansMigrate.Tests.Shared;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OrleansMigrate.Tests;

/// <summary>An <c>omig-silo</c> process in PostgreSQL mode, started and stopped (gracefully or with SIGKILL) by a test.</summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly string[] _args;
    private readonly Dictionary<string, string> _environment = new(StringComparer.Ordinal);
    private readonly StringBuilder _output = new();
    private Process? _process;

    public SiloProcess(string name, string role, string hosts, string connectionString, string clusterId, params string[] extraArgs)
        : this(name, role, hosts, ["--connection-string", connectionString], null, clusterId, extraArgs)
    {
    }

    /// <summary>A silo given its connection string some other way: <paramref name="connectionArgs"/> (e.g.
    /// <c>--connection-string-file PATH</c>, or none) and <paramref name="environment"/> (e.g. <c>Omig__ConnectionString</c>).</summary>
    public SiloProcess(string name, string role, string hosts, string[] connectionArgs, IReadOnlyDictionary<string, string>? environment, string clusterId, params string[] extraArgs)
    {
        Name = name;
        SiloPort = FreePorts.Next();
        GatewayPort = FreePorts.Next();
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            _environment[key] = value;
        }

        _args =
        [
            RepoPaths.SiloDll, "--name", name, "--role", role, "--hosts", hosts, "--storage", "postgres",
            .. connectionArgs, "--cluster-id", clusterId, "--service-id", clusterId,
            "--silo-port", SiloPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--gateway-port", GatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            .. extraArgs,
        ];
    }

    public string Name { get; }

    public int SiloPort { get; }

    public int GatewayPort { get; }

    /// <summary>The process id once started.</summary>
    public int Pid => _process?.Id ?? 0;

    /// <summary>The exit code once the process ended, else null.</summary>
    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

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

    /// <summary>Starts the process and waits (at most 90 s) until it prints that it is up.</summary>
    public async Task StartAsync()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in _args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (key, value) in _environment)
        {
            psi.Environment[key] = value;
        }

        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => Append(e.Data, up);
        _process.ErrorDataReceived += (_, e) => Append(e.Data, up);
        var process = _process;
        _process.Exited += (_, _) => up.TrySetException(new SiloStartException($"silo {Name} exited during start (exit code {process.ExitCode}):\n{Output}"));
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        try
        {
            await up.Task.WaitAsync(TimeSpan.FromSeconds(90));
        }
        catch (TimeoutException)
        {
            throw new SiloStartException($"silo {Name} did not say it is up within 90 s:\n{Output}");
        }
    }

    /// <summary>Waits (at most <paramref name="limit"/>) until the output contains <paramref name="text"/>.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan limit)
    {
        try
        {
            await Eventually.TrueAsync(() =>
            {
                var seen = Output.Contains(text, StringComparison.Ordinal);
                return !seen && ExitCode is not null
                    ? throw new SiloStartException($"silo {Name} did not print '{text}' within {limit}:\n{Output}")
                    : seen;
            }, limit, $"silo {Name} prints '{text}'", TimeSpan.FromMilliseconds(100));
        }
        catch (TimeoutException)
        {
            throw new SiloStartException($"silo {Name} did not print '{text}' within {limit}:\n{Output}");
        }
    }

    /// <summary>SIGTERM, then wait for a clean exit (SIGKILL after 30 s).</summary>
    public async Task StopAsync()
    {
        if (_process is null || _process.HasExited)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill!.WaitForExitAsync();
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>SIGKILL: the process vanishes without telling the cluster.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }

    private void Append(string? line, TaskCompletionSource up)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        if (line.Contains(" up: role ", StringComparison.Ordinal))
        {
            up.TrySetResult();
        }
    }
}

/// <summary>A silo process that exited, or never said it was up, while a test started it: a start failure, which a test
/// reports as such (not as, say, a lost migration).</summary>
public sealed class SiloStartException(string message) : Exception(message);
