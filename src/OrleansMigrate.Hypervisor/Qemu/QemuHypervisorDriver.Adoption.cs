using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>The state files beside each guest's socket and the adoption, at start, of the guests an earlier agent left running.</summary>
public sealed partial class QemuHypervisorDriver
{
    /// <summary>Records a running guest next to its socket (mode 0600) so that a later agent can adopt it.</summary>
    internal static async Task WriteStateFileAsync(QemuVm vm, QemuProcess process)
    {
        var state = new JsonObject
        {
            ["host"] = vm.HostId,
            ["vm"] = vm.Spec.VmId,
            ["pid"] = process.ProcessId,
            ["socket"] = process.SocketPath,
            ["memory_mib"] = vm.Spec.MemoryMiB,
            ["vcpus"] = vm.Spec.VCpuCount,
            ["image"] = vm.Spec.Qemu!.ImagePath,
            ["machine"] = vm.Spec.Qemu.MachineType,
            ["devices"] = GuestDevicesToJson(vm.Spec.Qemu),
        };
        var path = Path.ChangeExtension(process.SocketPath, ".vm.json");
        var temp = path + ".tmp";
        await File.WriteAllTextAsync(temp, state.ToJsonString()).ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }

    private static void DeleteStateFile(string socketPath)
    {
        try
        {
            File.Delete(Path.ChangeExtension(socketPath, ".vm.json"));
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// Adopts the guests an earlier agent of this host left running: for each state file of this host whose QEMU still
    /// runs with that socket, reconnects and takes the run state from <c>query-status</c>. A guest half-way through an
    /// incoming migration is stopped (its migration is gone with the old agent; the orchestrator rolls it back); a
    /// source stopped for a switchover is adopted paused, for the orchestrator to resume or complete.
    /// </summary>
    private async Task AdoptAsync()
    {
        if (!Directory.Exists(_options.RuntimeDirectory))
            return;
        foreach (var file in Directory.EnumerateFiles(_options.RuntimeDirectory, "*.vm.json"))
        {
            JsonNode? state;
            try
            {
                state = JsonNode.Parse(await File.ReadAllTextAsync(file).ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is IOException or System.Text.Json.JsonException)
            {
                continue;
            }

            if (state?["host"]?.GetValue<string>() != HostId || state["vm"]?.GetValue<string>() is not { } vmId || _vms.ContainsKey(vmId))
                continue;
            var socket = state["socket"]?.GetValue<string>() ?? string.Empty;
            var pid = state["pid"]?.GetValue<int>() ?? 0;
            var process = pid > 0 && socket.Length > 0
                ? await QemuProcess.AttachAsync(pid, socket, TimeSpan.FromMilliseconds(_options.CommandTimeoutMs), CancellationToken.None).ConfigureAwait(false)
                : null;
            if (process is null)
            {
                File.Delete(file);
                continue;
            }

            string? status;
            try
            {
                status = (await process.ExecuteAsync("query-status").ConfigureAwait(false))?["status"]?.GetValue<string>();
            }
            catch (Exception ex) when (ex is QemuException or QmpConnectionException or QmpTimeoutException or QmpCommandException)
            {
                await process.DetachAsync().ConfigureAwait(false);
                continue;
            }

            var spec = new VmSpec
            {
                VmId = vmId,
                MemoryMiB = state["memory_mib"]?.GetValue<int>() ?? 0,
                VCpuCount = state["vcpus"]?.GetValue<int>() ?? 1,
                Qemu = WithGuestDevices(new QemuGuest { ImagePath = state["image"]?.GetValue<string>() ?? string.Empty, MachineType = state["machine"]?.GetValue<string>() }, state["devices"]),
            };
            var vm = new QemuVm(spec) { HostId = HostId };
            if (status is "inmigrate" or "prelaunch")
            {
                await process.StopAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                await process.DisposeAsync().ConfigureAwait(false);
                File.Delete(file);
                continue;
            }

            vm.Attach(process);
            vm.State = status == "running" ? VmState.Running : VmState.Paused;
            _vms[vmId] = vm;
            AdoptedVms++;
        }
    }
}
