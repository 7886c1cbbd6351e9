using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using OrleansMigrate.Grains.Cloud.Nbd;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Hypervisor.Qmp;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Cloud.Nbd;

/// <summary>A bare QEMU (TCG, no boot disk: SeaBIOS idles) whose only disk is a cloud disk over NBD, attached with the
/// driver's <see cref="QemuNbdDisk.Arguments"/>; driven through its QMP socket. Writes are made with the human
/// monitor's <c>qemu-io</c> on the virtio-blk device's own block backend: the VM's real write path. Killed by pid.</summary>
public sealed class NbdQemu : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private NbdQemu(Process process, QmpClient qmp)
    {
        _process = process;
        Qmp = qmp;
    }

    public QmpClient Qmp { get; }

    public int ProcessId => _process.Id;

    /// <summary>What QEMU printed (the human monitor's qemu-io writes its results to QEMU's stdout).</summary>
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

    public static async Task<NbdQemu> StartAsync(string directory, string name, NbdAttachment disk, bool incoming)
    {
        var socket = Path.Combine(directory, name + ".qmp");
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("OMIG_QEMU_BINARY") ?? "qemu-system-x86_64")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        string[] args = ["-name", "omn-" + name, "-machine", "pc,accel=tcg", "-m", "32", "-nodefaults", "-no-user-config", "-display", "none", "-S",
            "-qmp", $"unix:{socket},server=on,wait=off"];
        foreach (var a in args.Concat(new QemuNbdDisk { Host = disk.Host, Port = disk.Port, ExportName = disk.ExportName }.Arguments()))
        {
            psi.ArgumentList.Add(a);
        }

        if (incoming)
        {
            psi.ArgumentList.Add("-incoming");
            psi.ArgumentList.Add("defer");
        }

        var process = Process.Start(psi)!;
        var output = new StringBuilder();
        void Append(string? line)
        {
            lock (output)
            {
                if (line is not null && output.Length < 65536)
                {
                    output.AppendLine(line);
                }
            }
        }

        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        QmpClient qmp;
        try
        {
            qmp = (await Eventually.UntilAsync(async () =>
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"QEMU {name} exited at start: {output}");
                }

                return File.Exists(socket) ? await QmpClient.ConnectUnixAsync(socket) : null;
            }, client => client is not null, TimeSpan.FromSeconds(15), $"QEMU {name} opens its QMP socket", TimeSpan.FromMilliseconds(20),
                transient: ex => ex is QmpConnectionException))!;
        }
        catch (TimeoutException)
        {
            process.Kill();
            throw new TimeoutException($"QEMU {name} did not open its QMP socket: {output}");
        }

        var vm = new NbdQemu(process, qmp);
        lock (output)
        {
            vm._output.Append(output);
        }

        process.OutputDataReceived += (_, e) => vm.Append(e.Data);
        process.ErrorDataReceived += (_, e) => vm.Append(e.Data);
        return vm;
    }

    public Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments = null) => Qmp.ExecuteAsync(command, arguments);

    /// <summary>Writes <paramref name="pattern"/> over 4 KiB at <paramref name="offset"/> through the VM's disk device.</summary>
    public Task WriteAsync(byte pattern, long offset) =>
        ExecuteAsync("human-monitor-command", new JsonObject
        {
            ["command-line"] = $"qemu-io -d {QemuNbdDisk.DeviceId}/virtio-backend \"write -P 0x{pattern:x2} {offset} 4k\"",
        });

    public async Task SetCapabilityAsync(string capability)
    {
        await ExecuteAsync("migrate-set-capabilities", new JsonObject
        {
            ["capabilities"] = new JsonArray(new JsonObject { ["capability"] = capability, ["state"] = true }),
        });
    }

    /// <summary>Polls <c>query-migrate</c> until its status is one of <paramref name="statuses"/> (30 s at most).</summary>
    public async Task<string> WaitMigrationAsync(params string[] statuses)
    {
        string? status = null;
        try
        {
            return (await Eventually.UntilAsync(async () => status = (await ExecuteAsync("query-migrate"))?["status"]?.GetValue<string>(),
                s => s is not null && statuses.Contains(s), TimeSpan.FromSeconds(30), $"migration status {string.Join("|", statuses)}", TimeSpan.FromMilliseconds(10)))!;
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"migration status stayed '{status}', waited for {string.Join("|", statuses)}; QEMU said: {Output}");
        }
    }

    public async Task<string> RunStatusAsync() => (await ExecuteAsync("query-status"))?["status"]?.GetValue<string>() ?? "?";

    private void Append(string? line)
    {
        lock (_output)
        {
            if (line is not null && _output.Length < 65536)
            {
                _output.AppendLine(line);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Qmp.DisposeAsync();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }

            await _process.WaitForExitAsync();
        }
        finally
        {
            _process.Dispose();
        }
    }
}
