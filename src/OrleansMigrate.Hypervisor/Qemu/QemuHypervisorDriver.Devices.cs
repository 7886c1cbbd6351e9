using System.Globalization;
using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>
/// Hot-plug of the stand-ins for SR-IOV VFs (<see cref="Drivers.VmSpec.HotplugDevices"/>): each is a virtio NIC with no
/// backend (a fallback NIC) in its own PCIe root port, <c>rp-ID</c>. Every QEMU of the VM, fresh or incoming, has the
/// same empty ports, so the migration stream matches whatever is plugged: the device is unplugged on the source before
/// the migration starts and plugged on the destination after it resumes.
/// </summary>
public sealed partial class QemuHypervisorDriver
{
    /// <summary>How long <see cref="UnplugDeviceAsync"/> waits for QEMU's <c>DEVICE_DELETED</c> (a guest that must release
    /// the device first may take a while; one that never does fails the unplug).</summary>
    public static readonly TimeSpan UnplugTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The root ports of the hot-pluggable devices, and on q35 native PCIe hotplug (not ACPI), so that a slot the
    /// guest never powered lets its device go at once; on <c>pc</c> a port is a plain PCI bridge slot and the guest must
    /// answer ACPI hotplug.</summary>
    internal static List<string> HotplugPortArguments(Drivers.VmSpec spec, string machineType)
    {
        var arguments = new List<string>();
        if (spec.HotplugDevices.Count == 0)
            return arguments;
        var q35 = machineType.StartsWith("q35", StringComparison.Ordinal) || machineType.Contains("-q35", StringComparison.Ordinal);
        if (q35)
            arguments.AddRange(["-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"]);
        for (var i = 0; i < spec.HotplugDevices.Count; i++)
        {
            var id = spec.HotplugDevices[i];
            CheckDeviceId(id);
            arguments.AddRange(["-device", q35
                ? $"pcie-root-port,id=rp-{id},chassis={(i + 1).ToString(CultureInfo.InvariantCulture)}"
                : $"pci-bridge,id=rp-{id},chassis_nr={(i + 1).ToString(CultureInfo.InvariantCulture)}"]);
        }

        return arguments;
    }

    /// <summary>The hot-pluggable devices QEMU has now, read from <c>qom-list /machine/peripheral</c>.</summary>
    public async Task<IReadOnlyList<string>> PluggedDevicesAsync(string vmId, CancellationToken cancellationToken = default)
    {
        var (vm, process) = Running(vmId);
        var reply = await process.ExecuteAsync("qom-list", new JsonObject { ["path"] = "/machine/peripheral" }, cancellationToken).ConfigureAwait(false);
        var names = (reply as JsonArray ?? []).Select(n => n?["name"]?.GetValue<string>()).OfType<string>().ToHashSet(StringComparer.Ordinal);
        return [.. vm.Spec.HotplugDevices.Where(names.Contains).Order(StringComparer.Ordinal)];
    }

    /// <summary><c>device_add</c> of a virtio NIC with the device's id into its root port.</summary>
    public async Task PlugDeviceAsync(string vmId, string deviceId, CancellationToken cancellationToken = default)
    {
        var (vm, process) = Running(vmId);
        RequireHotplug(vm, deviceId);
        if ((await PluggedDevicesAsync(vmId, cancellationToken).ConfigureAwait(false)).Contains(deviceId, StringComparer.Ordinal))
            return;
        await process.ExecuteAsync("device_add", new JsonObject
        {
            ["driver"] = "virtio-net-pci",
            ["id"] = deviceId,
            ["bus"] = "rp-" + deviceId,
            ["mac"] = MacOf(vm.Spec.VmId, deviceId),
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary><c>device_del</c>, then waits for QEMU's <c>DEVICE_DELETED</c> of that id (at most <see cref="UnplugTimeout"/>).</summary>
    public async Task UnplugDeviceAsync(string vmId, string deviceId, CancellationToken cancellationToken = default)
    {
        var (vm, process) = Running(vmId);
        RequireHotplug(vm, deviceId);
        var deleted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = process.Subscribe((e, _) =>
        {
            if (e.Name == "DEVICE_DELETED" && e.Data?["device"]?.GetValue<string>() == deviceId)
                deleted.TrySetResult();
        });
        if (!(await PluggedDevicesAsync(vmId, cancellationToken).ConfigureAwait(false)).Contains(deviceId, StringComparer.Ordinal))
            return;
        try
        {
            await process.ExecuteAsync("device_del", new JsonObject { ["id"] = deviceId }, cancellationToken).ConfigureAwait(false);
        }
        catch (QmpCommandException ex) when (ex.ErrorClass == "DeviceNotFound")
        {
            return;
        }

        try
        {
            await deleted.Task.WaitAsync(UnplugTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new QemuException($"device_del {deviceId}: no DEVICE_DELETED within {UnplugTimeout.TotalSeconds:0} s (the guest did not release it)");
        }
    }

    private (QemuVm Vm, QemuProcess Process) Running(string vmId)
    {
        var vm = Get(vmId);
        if (vm.Process is not { } process || process.Exited.IsCompleted)
            throw new InvalidOperationException($"VM '{vmId}' has no running QEMU ({vm.Info().Detail ?? vm.State.ToString()}).");
        return (vm, process);
    }

    private static void RequireHotplug(QemuVm vm, string deviceId)
    {
        if (!vm.Spec.HotplugDevices.Contains(deviceId, StringComparer.Ordinal))
            throw new ArgumentException($"VM '{vm.Spec.VmId}' has no hot-pluggable device '{deviceId}'", nameof(deviceId));
    }

    private static void CheckDeviceId(string id)
    {
        if (id.Length is 0 or > 60 || !char.IsAsciiLetter(id[0]) || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ArgumentException($"'{id}' is not a QEMU device id (a letter, then letters, digits, '-', '_', '.')", nameof(id));
    }

    /// <summary>A stable, locally administered MAC per VM and device, so the NIC a destination plugs is the one the source had.</summary>
    private static string MacOf(string vmId, string deviceId)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(vmId + "/" + deviceId));
        return "02:" + string.Join(':', hash.Take(5).Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
    }
}
