using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>The QMP passthrough (<c>omig vm qmp</c>): one allow-listed command to a VM's QEMU, its reply as JSON.</summary>
public sealed partial class QemuHypervisorDriver
{
    /// <summary>
    /// Passes one QMP command (a JSON object with <c>execute</c> and optional <c>arguments</c>) to the VM's QEMU and
    /// returns QEMU's reply as JSON: <c>{"return": …}</c> or <c>{"error": {"class", "desc"}}</c>. Only commands on
    /// the allow-list pass (<see cref="QmpAllowList"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The text is not a single QMP command, or the command is not allowed.</exception>
    public bool SupportsPassthrough => true;

    public async Task<string> PassthroughAsync(string vmId, string commandJson, CancellationToken cancellationToken = default)
    {
        var (command, arguments) = QmpAllowList.Parse(commandJson, _options);
        var vm = Get(vmId);
        if (vm.Process is not { } process || process.Exited.IsCompleted)
            throw new InvalidOperationException($"VM '{vmId}' has no running QEMU ({vm.Info().Detail ?? vm.State.ToString()}).");
        try
        {
            var result = await process.ExecuteAsync(command, arguments, cancellationToken).ConfigureAwait(false);
            return new JsonObject { ["return"] = result?.DeepClone() ?? new JsonObject() }.ToJsonString();
        }
        catch (QmpCommandException ex)
        {
            return new JsonObject { ["error"] = new JsonObject { ["class"] = ex.ErrorClass, ["desc"] = ex.Description } }.ToJsonString();
        }
    }
}
