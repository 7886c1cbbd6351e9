using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// The migration rule of each <see cref="DeviceKind"/>, in one place (placement, the scheduler, preflight, drains,
/// planners and the migration itself ask here):
/// <list type="bullet">
/// <item><see cref="DeviceKind.Vf"/> (SR-IOV VFs): the VM moves live; its VFs are unplugged on the source before
/// pre-copy and VFs are plugged on the destination after it resumes (<see cref="HotplugDevices"/>).</item>
/// <item><see cref="DeviceKind.Gpu"/>, <see cref="DeviceKind.Fpga"/> (VFIO pass-through, no mediation): the device's
/// state lives in hardware, so the VM is never live-migrated; it needs a cold move (<see cref="PassThrough"/>).</item>
/// <item><see cref="DeviceKind.Vgpu"/> (mediated): live only when both QEMUs have switchover-ack
/// (<see cref="SwitchoverAckQemu"/> or newer, by the hosts' declared hypervisor versions; <see cref="VgpuRefusal"/>).</item>
/// </list>
/// </summary>
public static class DeviceRules
{
    /// <summary>The first QEMU with the <c>switchover-ack</c> migration capability, which mediated vGPU drivers need to
    /// finish their own state transfer before the switchover.</summary>
    public const string SwitchoverAckQemu = "8.1";

    /// <summary>The first pass-through device the VM asks for (a GPU or an FPGA), or null.</summary>
    public static DeviceCount? PassThrough(VmSpec vm) => vm.Devices.FirstOrDefault(d => d.Kind is DeviceKind.Gpu or DeviceKind.Fpga);

    /// <summary>The devices unplugged before a live move and plugged on the destination after it (SR-IOV VFs).</summary>
    public static IEnumerable<DeviceCount> HotplugDevices(VmSpec vm) => vm.Devices.Where(d => d.Kind == DeviceKind.Vf);

    /// <summary>The hypervisor ids of the VM's hot-pluggable devices, one per VF: <c>vf-MODEL-N</c> (model characters
    /// other than letters, digits, '_' and '.' become '-'), e.g. <c>vf-mlx5-0</c>, <c>vf-mlx5-1</c>.</summary>
    public static IReadOnlyList<string> HotplugIds(VmSpec vm) =>
        [.. HotplugDevices(vm).SelectMany(d => Enumerable.Range(0, d.Count).Select(i =>
            $"vf-{new string([.. d.Model.Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' ? c : '-')])}-{i.ToString(System.Globalization.CultureInfo.InvariantCulture)}"))];

    /// <summary>The first mediated vGPU the VM asks for, or null.</summary>
    public static DeviceCount? Vgpu(VmSpec vm) => vm.Devices.FirstOrDefault(d => d.Kind == DeviceKind.Vgpu);

    /// <summary>Whether the host's declared QEMU has switchover-ack (8.1 or newer).</summary>
    public static bool HasSwitchoverAck(HostSpec host) => VersionNumber.Compare(host.HypervisorVersion, SwitchoverAckQemu) >= 0;

    /// <summary>Why the VM's mediated vGPU cannot move live from <paramref name="source"/> to <paramref name="destination"/>
    /// (either QEMU is older than 8.1), or null when it has none or both QEMUs can.</summary>
    public static string? VgpuRefusal(VmSpec vm, HostSpec source, HostSpec destination)
    {
        if (Vgpu(vm) is not { } vgpu)
        {
            return null;
        }

        var old = !HasSwitchoverAck(source) ? source : !HasSwitchoverAck(destination) ? destination : null;
        return old is null ? null : $"mediated {vgpu.Key} needs QEMU ≥ {SwitchoverAckQemu} switchover-ack; host {old.HostId} runs QEMU {old.HypervisorVersion}";
    }
}
