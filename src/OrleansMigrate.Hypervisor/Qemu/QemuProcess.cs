using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>
/// One supervised QEMU process and the QMP connection to it. Launched from an argument list (never a shell);
/// its QMP socket lives in a 0700 runtime directory and is set to 0600. One event pump reads QMP events,
/// keeps the run state, and hands every event to the subscribers (the migration in flight).
/// </summary>
internal sealed class QemuProcess : IAsyncDisposable
{
    private const int StderrTailBytes = 4096;

    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TimeSpan _commandTimeout;
    private ImmutableArray<Action<QmpEvent, long>> _subscribers = [];
    private QmpClient? _qmp;
    private Task _pump = Task.CompletedTask;
    private volatile bool _stopping;
    private bool _adopted;

    private QemuProcess(Process process, string socketPath, TimeSpan commandTimeout)
    {
        _process = process;
        SocketPath = socketPath;
        _commandTimeout = commandTimeout;
    }

    public string SocketPath { get; }

    /// <summary>Serialises guest checks (stop, read memory, cont) on this QEMU.</summary>
    public SemaphoreSlim GuestCheckLock { get; } = new(1, 1);

    public int ProcessId { get; private set; }

    /// <summary>Completes with the exit code when the process ends, for whatever reason.</summary>
    public Task<int> Exited => _exited.Task;

    /// <summary>True once we asked the process to end (quit or kill): its exit is then expected.</summary>
    public bool Stopping => _stopping;

    /// <summary>QEMU's run state as the STOP/RESUME events left it: <c>running</c> or <c>paused</c>; null before the first.</summary>
    public string? RunState { get; private set; }

    /// <summary>The last lines QEMU wrote to stderr (at most 4 KiB).</summary>
    public string StderrTail
    {
        get
        {
            lock (_stderr)
                return _stderr.ToString().Trim();
        }
    }

    /// <summary>How the process ended, in words; null while it runs.</summary>
    public string? ExitDescription =>
        _exited.Task.IsCompleted
            ? $"qemu (pid {ProcessId}) exited with code {_exited.Task.Result}{(StderrTail.Length > 0 ? ": " + LastLine(StderrTail) : string.Empty)}"
            : null;

    public QmpClient Qmp => _qmp ?? throw new InvalidOperationException("QMP is not connected.");

    /// <summary>Starts QEMU and connects to its QMP socket. The caller passes every argument except <c>-qmp</c>.</summary>
    public static async Task<QemuProcess> StartAsync(string binary, IReadOnlyList<string> arguments, string socketPath, TimeSpan startTimeout, TimeSpan commandTimeout, int nice, CancellationToken cancellationToken)
    {
        if (File.Exists(socketPath))
            File.Delete(socketPath);

        var info = new ProcessStartInfo(binary)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            CreateNoWindow = true,
        };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        info.ArgumentList.Add("-qmp");
        info.ArgumentList.Add($"unix:{socketPath},server=on,wait=off");

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var qemu = new QemuProcess(process, socketPath, commandTimeout);
        process.ErrorDataReceived += (_, e) => qemu.OnStderr(e.Data);
        process.OutputDataReceived += static (_, _) => { };
        process.Exited += (_, _) => qemu.OnExited();
        try
        {
            if (!process.Start())
                throw new QemuException($"could not start '{binary}'");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            process.Dispose();
            throw new QemuException($"could not start '{binary}': {ex.Message}", ex);
        }

        qemu.ProcessId = process.Id;
        process.StandardInput.Close();
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            await qemu.ConnectAsync(startTimeout, cancellationToken).ConfigureAwait(false);
            if (nice != 0)
                NativeMethods.SetNice(qemu.ProcessId, nice);
            return qemu;
        }
        catch
        {
            await qemu.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Re-attaches to a QEMU this host started before (an earlier incarnation of the agent): checks that the process
    /// still runs QEMU with that QMP socket, connects, and supervises it again. Null when it is gone or not ours.
    /// </summary>
    public static async Task<QemuProcess?> AttachAsync(int pid, string socketPath, TimeSpan commandTimeout, CancellationToken cancellationToken)
    {
        string cmdline;
        try
        {
            cmdline = (await File.ReadAllTextAsync($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline", cancellationToken).ConfigureAwait(false)).Replace('\0', ' ');
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        if (!cmdline.Contains($"unix:{socketPath},", StringComparison.Ordinal) || !File.Exists(socketPath))
            return null;
        Process process;
        try
        {
            process = Process.GetProcessById(pid);
            process.EnableRaisingEvents = true;
        }
        catch (ArgumentException)
        {
            return null;
        }

        var qemu = new QemuProcess(process, socketPath, commandTimeout) { ProcessId = pid, _adopted = true };
        process.Exited += (_, _) => qemu.OnExited();
        try
        {
            qemu._qmp = await QmpClient.ConnectUnixAsync(socketPath, new QmpClientOptions { CommandTimeout = commandTimeout, InlineEventDelivery = true }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is QmpConnectionException or QmpTimeoutException)
        {
            process.Dispose();
            return null;
        }

        qemu._pump = qemu.PumpAsync(qemu._qmp);
        return qemu;
    }

    /// <summary>Lets go of QEMU without stopping it: the QMP connection closes, the guest runs on, and a later agent
    /// can <see cref="AttachAsync"/> again. Idempotent.</summary>
    public async Task DetachAsync()
    {
        _stopping = true;
        if (_qmp is not null)
            await _qmp.DisposeAsync().ConfigureAwait(false);
        await _pump.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _process.Dispose();
    }

    /// <summary>Registers a subscriber for every event (called on the pump, with the local receive timestamp). Returns the unsubscriber.</summary>
    public IDisposable Subscribe(Action<QmpEvent, long> subscriber)
    {
        ImmutableInterlocked.Update(ref _subscribers, static (list, s) => list.Add(s), subscriber);
        return new Unsubscriber(this, subscriber);
    }

    /// <summary>Runs one command with the driver's timeout. Fails fast once the process has exited.</summary>
    public Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments = null, CancellationToken cancellationToken = default, TimeSpan? timeout = null)
    {
        if (_exited.Task.IsCompleted)
            throw new QemuException($"{command}: {ExitDescription}");
        return Qmp.ExecuteAsync(command, arguments, timeout ?? _commandTimeout, cancellationToken);
    }

    /// <summary>Asks QEMU to quit, then kills it if it has not exited within <paramref name="grace"/>. Idempotent.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        _stopping = true;
        if (!_exited.Task.IsCompleted && _qmp is { IsConnected: true } qmp)
        {
            try
            {
                await qmp.ExecuteAsync("quit", timeout: grace).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is QmpConnectionException or QmpTimeoutException or QmpCommandException)
            {
                // It is going away (or wedged): the kill below settles it.
            }
        }

        if (!await WaitExitAsync(grace).ConfigureAwait(false))
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            await WaitExitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A guest shutdown: QMP <c>system_powerdown</c> (the ACPI power button), a wait of up to <paramref name="graceful"/>
    /// for QEMU to exit (it does when its guest powers off), then <see cref="StopAsync"/> (<c>quit</c>, a kill if that
    /// hangs). The exit is expected either way (<see cref="Stopping"/>), so it never reads as a lost VM. True when the
    /// guest powered off by itself.
    /// </summary>
    public async Task<bool> PowerDownAsync(TimeSpan graceful, CancellationToken cancellationToken = default)
    {
        _stopping = true;
        if (_exited.Task.IsCompleted)
            return true;
        try
        {
            await Qmp.ExecuteAsync("system_powerdown", null, _commandTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is QmpConnectionException or QmpTimeoutException or QmpCommandException or InvalidOperationException)
        {
            // QEMU did not take the request (it is going away, or wedged): the timeout and the quit below settle it.
        }

        if (graceful > TimeSpan.Zero && await WaitExitAsync(graceful).ConfigureAwait(false))
            return true;
        await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        return false;
    }

    /// <summary>Kills the process at once (SIGKILL), as a crash would. For fault tests and last-resort cleanup.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        if (_qmp is not null)
            await _qmp.DisposeAsync().ConfigureAwait(false);
        await _pump.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _process.Dispose();
        try
        {
            File.Delete(SocketPath);
        }
        catch (IOException)
        {
        }
    }

    private async Task<bool> WaitExitAsync(TimeSpan timeout)
    {
        try
        {
            await _exited.Task.WaitAsync(timeout).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private async Task ConnectAsync(TimeSpan startTimeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(startTimeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_exited.Task.IsCompleted)
            {
                // Let the stderr reader reach the end of the stream before quoting it (bounded), and quote all of it:
                // QEMU's last line is often only a hint ("Use -machine help to list supported machines").
                using (var drain = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
                    await _process.WaitForExitAsync(drain.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                var stderr = StderrTail;
                throw new QemuException($"QEMU (pid {ProcessId}) exited with code {_exited.Task.Result} before its QMP socket opened"
                    + (stderr.Length > 0 ? ": " + stderr.ReplaceLineEndings(" | ") : " (nothing on stderr)"));
            }

            if (File.Exists(SocketPath))
            {
                try
                {
                    if (OperatingSystem.IsWindows())
                        throw new PlatformNotSupportedException("the QEMU driver runs on Linux");
                    File.SetUnixFileMode(SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                    _qmp = await QmpClient.ConnectUnixAsync(SocketPath, new QmpClientOptions { CommandTimeout = _commandTimeout, InlineEventDelivery = true }, cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (QmpConnectionException) when (Stopwatch.GetTimestamp() < deadline)
                {
                    // Bound but not listening yet.
                }
            }

            if (Stopwatch.GetTimestamp() > deadline)
                throw new QemuException($"QEMU (pid {ProcessId}) did not open its QMP socket within {startTimeout.TotalMilliseconds:0} ms");
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }

        _pump = PumpAsync(_qmp);
    }

    private async Task PumpAsync(QmpClient qmp)
    {
        try
        {
            await foreach (var e in qmp.Events.ReadAllAsync().ConfigureAwait(false))
            {
                var received = Stopwatch.GetTimestamp();
                RunState = e.Name switch
                {
                    "STOP" => "paused",
                    "RESUME" => "running",
                    _ => RunState,
                };
                foreach (var subscriber in _subscribers)
                {
                    try
                    {
                        subscriber(e, received);
                    }
                    catch (Exception ex) when (ex is InvalidOperationException or QemuException or QmpConnectionException or QmpTimeoutException)
                    {
                        // One subscriber's failure must not stop the pump: every later event (the migration's
                        // outcome included) would be lost.
                        OnStderr($"omig: event subscriber failed on {e.Name}: {ex.Message}");
                    }
                }
            }
        }
        catch (QmpConnectionException)
        {
            // The connection ended (QEMU exited): subscribers learn it from Exited.
        }

        // A QEMU adopted from an earlier agent is not our child: its exit may not be reported; the monitor closing
        // while the process is gone is the sign (bounded wait for /proc to drop it).
        if (_adopted && !_stopping)
        {
            for (var i = 0; i < 50 && Directory.Exists($"/proc/{ProcessId.ToString(CultureInfo.InvariantCulture)}"); i++)
                await Task.Delay(100).ConfigureAwait(false);
            _exited.TrySetResult(-1);
        }
    }

    private void OnStderr(string? line)
    {
        if (line is null)
            return;
        lock (_stderr)
        {
            _stderr.AppendLine(line);
            if (_stderr.Length > StderrTailBytes)
                _stderr.Remove(0, _stderr.Length - StderrTailBytes);
        }
    }

    private void OnExited()
    {
        int code;
        try
        {
            code = _process.ExitCode;
        }
        catch (InvalidOperationException)
        {
            code = -1;
        }

        _exited.TrySetResult(code);
    }

    private static string LastLine(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? string.Empty : lines[^1];
    }

    private sealed class Unsubscriber(QemuProcess owner, Action<QmpEvent, long> subscriber) : IDisposable
    {
        public void Dispose() => ImmutableInterlocked.Update(ref owner._subscribers, static (list, s) => list.Remove(s), subscriber);
    }

    internal static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>setpriority(2) for every thread of a process (Linux applies a nice value per thread).</summary>
internal static partial class NativeMethods
{
    private const int PrioProcess = 0;

    /// <summary>Sets the nice value of every thread of <paramref name="pid"/>; threads created later inherit it from
    /// their creator. Throws <see cref="QemuException"/> when the kernel refuses (no CAP_SYS_NICE for a negative value).</summary>
    public static void SetNice(int pid, int nice)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("process priority is set on Linux only");
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/task"))
        {
            if (int.TryParse(Path.GetFileName(task), NumberStyles.None, CultureInfo.InvariantCulture, out var tid) && setpriority(PrioProcess, tid, nice) != 0)
                throw new QemuException($"setpriority({tid}, {nice}) failed with errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()} (a negative nice value needs CAP_SYS_NICE)");
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, int who, int prio);
}

/// <summary>QEMU could not be started, or refused or failed an operation the driver needed.</summary>
public sealed class QemuException : Exception
{
    public QemuException()
    {
    }

    public QemuException(string message)
        : base(message)
    {
    }

    public QemuException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
