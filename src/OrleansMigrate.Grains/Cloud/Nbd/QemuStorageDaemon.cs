using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Grains.Cloud.Nbd;

/// <summary>
/// One <c>qemu-storage-daemon</c>: the block store's server. Either started here (<see cref="StartAsync"/>: a child
/// process, optionally inside a network namespace through <c>ip netns exec</c>, with its QMP monitor on a unix socket
/// and its NBD server on a TCP address) or attached to one that runs already (<see cref="AttachAsync"/>: the lab
/// starts the daemon, a control silo connects to its socket). Commands go through <see cref="QmpClient"/>, one at a
/// time. The images are raw files in <see cref="ImageDirectory"/>.
/// </summary>
public sealed class QemuStorageDaemon : IAsyncDisposable
{
    /// <summary>The program started by <see cref="StartAsync"/>.</summary>
    public const string Binary = "qemu-storage-daemon";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Process? _process;
    private QmpClient _qmp;

    // What StartAsync was given, so a daemon started here can be started again the same way (ReviveAsync).
    private string? _directory;
    private string? _netns;
    private int _disposed;

    private QemuStorageDaemon(QmpClient qmp, Process? process, int? processId, string socketPath, string imageDirectory, string nbdHost, int nbdPort)
    {
        _qmp = qmp;
        _process = process;
        ProcessId = processId;
        SocketPath = socketPath;
        ImageDirectory = imageDirectory;
        NbdHost = nbdHost;
        NbdPort = nbdPort;
    }

    /// <summary>The daemon's process id: the one started here, or the one its pid file names when attached (null when it
    /// has none).</summary>
    public int? ProcessId { get; }

    /// <summary>Whether this object started the daemon (and so stops it on dispose).</summary>
    public bool Owned => _process is not null;

    /// <summary>The QMP monitor socket.</summary>
    public string SocketPath { get; }

    /// <summary>Directory of the disk images (raw files).</summary>
    public string ImageDirectory { get; }

    /// <summary>Address the NBD server listens on, as clients reach it.</summary>
    public string NbdHost { get; }

    /// <summary>TCP port of the NBD server.</summary>
    public int NbdPort { get; }

    /// <summary>Whether the daemon can still serve: its QMP connection is open and (when known) its process runs. A daemon
    /// that died is not served again by this object; <see cref="ReviveAsync"/> gives a new one.</summary>
    public bool IsAlive
    {
        get
        {
            if (!_qmp.IsConnected)
            {
                return false;
            }

            try
            {
                if (_process is not null)
                {
                    return !_process.HasExited;
                }
            }
            catch (InvalidOperationException)
            {
                return false;
            }

            return ProcessId is not { } pid || Directory.Exists($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    /// <summary>Raised (on a pool thread) when a daemon started here exits, whatever the cause.</summary>
    public event Action<QemuStorageDaemon>? Exited;

    /// <summary>A new object for the same daemon after this one died: a daemon started here is started again with the same
    /// directory, address and namespace (its images are files and stay; its block nodes and exports do not — the caller
    /// adds them again); an attached one is attached again once whoever supervises it has restarted it. This object is
    /// disposed.</summary>
    public async Task<QemuStorageDaemon> ReviveAsync(CancellationToken cancellationToken = default)
    {
        await DisposeAsync().ConfigureAwait(false);
        return _directory is { } directory
            ? await StartAsync(directory, NbdHost, NbdPort, _netns, cancellationToken: cancellationToken).ConfigureAwait(false)
            : await AttachAsync(SocketPath, ImageDirectory, NbdHost, NbdPort, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts a daemon owning <paramref name="directory"/> (created when missing): QMP on
    /// <c>DIR/qmp.sock</c>, pid file <c>DIR/qsd.pid</c>, images under <c>DIR/images</c>, NBD on
    /// <paramref name="nbdHost"/>:<paramref name="nbdPort"/> (inside <paramref name="netns"/> when given).</summary>
    public static async Task<QemuStorageDaemon> StartAsync(string directory, string nbdHost, int nbdPort, string? netns = null,
        TimeSpan? startTimeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentException.ThrowIfNullOrWhiteSpace(nbdHost);
        ArgumentOutOfRangeException.ThrowIfLessThan(nbdPort, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nbdPort, 65535);
        if (!HostCommand.IsInstalled(Binary))
        {
            throw new InvalidOperationException($"{Binary} is not installed (Debian package qemu-system-x86 or qemu-storage-daemon); the nbd disk backend needs it.");
        }

        var root = Directory.CreateDirectory(directory).FullName;
        var images = Directory.CreateDirectory(Path.Combine(root, "images")).FullName;
        var socket = Path.Combine(root, "qmp.sock");
        File.Delete(socket);
        string[] daemonArgs =
        [
            "--chardev", $"socket,id=qmp0,path={socket},server=on,wait=off",
            "--monitor", "chardev=qmp0",
            "--pidfile", Path.Combine(root, "qsd.pid"),
        ];
        var psi = new ProcessStartInfo(netns is null ? Binary : "ip")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (netns is not null)
        {
            // `ip netns exec` execs the program after joining the namespace: the child's pid is the daemon's.
            foreach (var a in (string[])["netns", "exec", netns, Binary])
            {
                psi.ArgumentList.Add(a);
            }
        }

        foreach (var a in daemonArgs)
        {
            psi.ArgumentList.Add(a);
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException($"{Binary} did not start");
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            lock (stderr)
            {
                if (e.Data is { } line && stderr.Length < 4096)
                {
                    stderr.AppendLine(line);
                }
            }
        };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            var limit = startTimeout ?? TimeSpan.FromSeconds(10);
            var started = Stopwatch.StartNew();
            QmpClient? qmp = null;
            while (qmp is null)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"{Binary} exited with {process.ExitCode} at start: {Tail(stderr)}");
                }

                if (File.Exists(socket))
                {
                    try
                    {
                        qmp = await QmpClient.ConnectUnixAsync(socket, cancellationToken: cancellationToken).ConfigureAwait(false);
                        break;
                    }
                    catch (QmpConnectionException) when (started.Elapsed < limit)
                    {
                    }
                }

                if (started.Elapsed >= limit)
                {
                    throw new TimeoutException($"{Binary} did not open its QMP socket {socket} within {limit.TotalSeconds:0.#} s: {Tail(stderr)}");
                }

                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }

            var daemon = new QemuStorageDaemon(qmp, process, process.Id, socket, images, nbdHost, nbdPort) { _directory = root, _netns = netns };
            process.EnableRaisingEvents = true;
            process.Exited += (_, _) => daemon.Exited?.Invoke(daemon);
            try
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"{Binary} exited with {process.ExitCode} at start: {Tail(stderr)}");
                }

                await daemon.StartNbdServerAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await daemon.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            return daemon;
        }
        catch
        {
            KillProcess(process);
            process.Dispose();
            throw;
        }
    }

    /// <summary>Attaches to a running daemon's QMP socket (a QMP monitor serves one client at a time: nobody else may hold
    /// it) and makes sure its NBD server listens on
    /// <paramref name="nbdHost"/>:<paramref name="nbdPort"/> (started when it does not; a server already running is taken
    /// as it is). The pid is read from <c>qsd.pid</c> beside the socket when there is one.</summary>
    public static async Task<QemuStorageDaemon> AttachAsync(string socketPath, string imageDirectory, string nbdHost, int nbdPort,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(socketPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(imageDirectory);
        if (!File.Exists(socketPath))
        {
            throw new InvalidOperationException($"the qemu-storage-daemon QMP socket '{socketPath}' does not exist: is the daemon running?");
        }

        QmpClient qmp;
        try
        {
            qmp = await QmpClient.ConnectUnixAsync(socketPath, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (QmpTimeoutException e)
        {
            throw new InvalidOperationException($"the qemu-storage-daemon at '{socketPath}' did not greet: its monitor serves one client at a time and another holds it ({e.Message})", e);
        }

        int? pid = null;
        var pidFile = Path.Combine(Path.GetDirectoryName(socketPath) ?? ".", "qsd.pid");
        if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var p))
        {
            pid = p;
        }

        var daemon = new QemuStorageDaemon(qmp, null, pid, socketPath, Path.GetFullPath(imageDirectory), nbdHost, nbdPort);
        try
        {
            await daemon.StartNbdServerAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await daemon.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return daemon;
    }

    /// <summary>Runs one QMP command (one at a time) and returns its <c>return</c>.</summary>
    /// <exception cref="QmpCommandException">The daemon refused it.</exception>
    public async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments = null, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await _qmp.ExecuteAsync(command, arguments, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Kills the daemon by its pid (the one started here, or an attached one whose pid is known) and waits for it.</summary>
    public async Task KillAsync()
    {
        if (_process is not null)
        {
            KillProcess(_process);
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
        else if (ProcessId is { } pid)
        {
            try
            {
                using var p = Process.GetProcessById(pid);
                p.Kill();
                await p.WaitForExitAsync().ConfigureAwait(false);
            }
            catch (ArgumentException)
            {
                // Gone already.
            }
        }
    }

    /// <summary>Closes the QMP connection; a daemon started here is killed (by its pid), an attached one left running.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Exited = null; // its own stop is no death to report
        await _qmp.DisposeAsync().ConfigureAwait(false);
        if (_process is not null)
        {
            KillProcess(_process);
            await _process.WaitForExitAsync().ConfigureAwait(false);
            _process.Dispose();
        }

        _gate.Dispose();
    }

    private async Task StartNbdServerAsync(CancellationToken cancellationToken)
    {
        var addr = new JsonObject
        {
            ["type"] = "inet",
            ["data"] = new JsonObject { ["host"] = NbdHost, ["port"] = NbdPort.ToString(CultureInfo.InvariantCulture) },
        };
        try
        {
            await ExecuteAsync("nbd-server-start", new JsonObject { ["addr"] = addr }, cancellationToken).ConfigureAwait(false);
        }
        catch (QmpCommandException e) when (e.Description.Contains("already running", StringComparison.OrdinalIgnoreCase) && !Owned)
        {
            // Attached to a daemon whose server the lab started: taken as it is.
        }
    }

    private static void KillProcess(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
    }

    private static string Tail(System.Text.StringBuilder stderr)
    {
        lock (stderr)
        {
            return stderr.Length == 0 ? "(no stderr)" : stderr.ToString().Trim();
        }
    }
}
