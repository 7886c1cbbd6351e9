using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OrleansMigrate.Tests;

/// <summary>An <c>omig-silo</c> process in PostgreSQL mode, started and stopped (gracefully or with SIGKILL) by a test.</summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly string[] _args;
    private readonly StringBuilder _output = new();
    private Process? _process;

    public SiloProcess(string name, string role, string hosts, string connectionString, string clusterId, params string[] extraArgs)
    {
        Name = name;
        SiloPort = FreePort();
        GatewayPort = FreePort();
        _args =
        [
            RepoPaths.SiloDll, "--name", name, "--role", role, "--hosts", hosts, "--storage", "postgres",
            "--connection-string", connectionString, "--cluster-id", clusterId, "--service-id", clusterId,
            "--silo-port", SiloPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--gateway-port", GatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            .. extraArgs,
        ];
    }

    public string Name { get; }

    public int SiloPort { get; }

    public int GatewayPort { get; }

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

        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => Append(e.Data, up);
        _process.ErrorDataReceived += (_, e) => Append(e.Data, up);
        _process.Exited += (_, _) => up.TrySetException(new InvalidOperationException($"silo {Name} exited during start:\n{Output}"));
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await up.Task.WaitAsync(TimeSpan.FromSeconds(90));
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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
