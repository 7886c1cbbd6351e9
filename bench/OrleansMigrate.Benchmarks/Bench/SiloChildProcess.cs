using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace OrleansMigrate.Cli.Bench;

/// <summary>
/// An <c>omig-silo</c> process that a benchmark starts (PostgreSQL mode), waits for until it prints that it is up, and
/// kills by its process id: SIGKILL mid-run to take a silo away without telling the cluster, and at the end of the run.
/// The connection string goes in the environment (<c>Omig__ConnectionString</c>), never on the command line.
/// </summary>
public sealed class SiloChildProcess : IDisposable
{
    /// <summary>Lines of the silo's output kept for a report when something goes wrong.</summary>
    private const int TailLines = 200;

    private readonly Queue<string> _tail = new();
    private readonly ProcessStartInfo _start;
    private Process? _process;

    /// <param name="netns">Network namespace to run the silo in (<c>ip netns exec</c>, which execs the silo: the process id is
    /// the silo's); null: this one.</param>
    public SiloChildProcess(string siloDll, string name, string role, string hosts, string connectionString, string clusterId, IEnumerable<string> extraArgs,
        string? netns = null)
    {
        Name = name;
        Role = role;
        SiloPort = FreePort();
        GatewayPort = FreePort();
        _start = new ProcessStartInfo(netns is null ? "dotnet" : "ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])
        [
            .. netns is null ? Array.Empty<string>() : ["netns", "exec", netns, "dotnet"],
            siloDll, "--name", name, "--role", role, "--hosts", hosts, "--storage", "postgres", "--cluster-id", clusterId, "--service-id", clusterId,
            "--silo-port", SiloPort.ToString(CultureInfo.InvariantCulture), "--gateway-port", GatewayPort.ToString(CultureInfo.InvariantCulture),
            .. extraArgs,
        ])
        {
            _start.ArgumentList.Add(a);
        }

        _start.Environment["Omig__ConnectionString"] = connectionString;
    }

    public string Name { get; }

    public string Role { get; }

    public int SiloPort { get; }

    public int GatewayPort { get; }

    /// <summary>The process id once started, else 0.</summary>
    public int Pid { get; private set; }

    public bool Killed { get; private set; }

    public bool HasExited => _process is { HasExited: true };

    /// <summary>The last lines the silo printed (stdout and stderr).</summary>
    public string Tail
    {
        get
        {
            lock (_tail)
            {
                return string.Join('\n', _tail);
            }
        }
    }

    /// <summary>Sets an environment variable of the silo (configuration: <c>Omig__Key__Sub</c>) before it starts.</summary>
    public void SetEnvironment(string name, string value) => _start.Environment[name] = value;

    /// <summary>Starts the process and waits (at most <paramref name="limit"/>) until it prints that it is up.</summary>
    public async Task StartAsync(TimeSpan limit, CancellationToken ct)
    {
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = _start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Append(e.Data, up);
        process.ErrorDataReceived += (_, e) => Append(e.Data, up);
        process.Exited += (_, _) => up.TrySetException(new InvalidOperationException($"silo {Name} exited during start (exit code {process.ExitCode}):\n{Tail}"));
        _process = process;
        process.Start();
        Pid = process.Id;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await up.Task.WaitAsync(limit, ct);
        }
        catch (TimeoutException)
        {
            throw new InvalidOperationException($"silo {Name} did not say it is up within {limit.TotalSeconds:0} s:\n{Tail}");
        }
    }

    /// <summary>SIGKILL (the process and its children), by this process's id; waits (at most 10 s) for it to be gone.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } p)
        {
            Killed = true;
            try
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
                // It exited between the check and the kill.
            }
        }
    }

    public void Dispose()
    {
        if (_process is { HasExited: false } p)
        {
            try
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }

        _process?.Dispose();
    }

    private void Append(string? line, TaskCompletionSource up)
    {
        if (line is null)
        {
            return;
        }

        lock (_tail)
        {
            _tail.Enqueue(line);
            while (_tail.Count > TailLines)
            {
                _tail.Dequeue();
            }
        }

        if (line.Contains(" up: role ", StringComparison.Ordinal))
        {
            up.TrySetResult();
        }
    }

    /// <summary>A loopback port free right now (the OS's choice).</summary>
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
