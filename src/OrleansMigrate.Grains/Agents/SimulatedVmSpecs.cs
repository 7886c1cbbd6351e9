using System.Globalization;
using OrleansMigrate.Hypervisor.Simulated;
using HvVmSpec = OrleansMigrate.Hypervisor.Drivers.VmSpec;

namespace OrleansMigrate.Grains.Agents;

/// <summary>
/// Maps a registry VM to a simulated guest. Its behaviour is data on the VM, in labels:
/// <c>sim.memory-mib</c> (byte-real memory), <c>sim.dirty-mbps</c> (MB/s the workload dirties, 0 = idle),
/// <c>sim.hotset-mib</c> (dirty only a hot set of that size), <c>sim.acpi</c> (<c>ignore</c>: the guest ignores a power-down
/// request, so a cold move stops it hard after the policy's timeout). A modelled guest (the analytic driver) allocates
/// nothing, so its size defaults to the VM's registered memory instead of <see cref="HostRuntimeOptions.SimulatedGuestMiB"/>.
/// </summary>
public static class SimulatedVmSpecs
{
    public const string MemoryLabel = "sim.memory-mib";
    public const string DirtyLabel = "sim.dirty-mbps";
    public const string HotSetLabel = "sim.hotset-mib";
    public const string AcpiLabel = "sim.acpi";

    public static HvVmSpec From(OrleansMigrate.Fleet.VmSpec vm, HostRuntimeOptions options, bool modelled = false)
    {
        var memory = modelled
            ? Label(vm, MemoryLabel, (int)Math.Min(vm.MemoryMiB, AnalyticHypervisorDriver.MaxMemoryMiB), 1, AnalyticHypervisorDriver.MaxMemoryMiB)
            : Label(vm, MemoryLabel, options.SimulatedGuestMiB, 1, 16384);
        var dirty = Label(vm, DirtyLabel, 0, 0, 100_000);
        var hotSet = Label(vm, HotSetLabel, 0, 0, memory);
        return new HvVmSpec
        {
            VmId = vm.VmId,
            MemoryMiB = memory,
            VCpuCount = Math.Clamp(vm.Vcpus, 1, 256),
            HotplugDevices = Migration.DeviceRules.HotplugIds(vm),
            Simulation = new SimulatedGuestOptions
            {
                IgnoresPowerDown = vm.Labels.TryGetValue(AcpiLabel, out var acpi) && acpi == "ignore",
                Workload = dirty == 0 ? null : new GuestWorkloadOptions
                {
                    DirtyMegabytesPerSecond = dirty,
                    Pattern = hotSet > 0 ? DirtyPattern.HotSet : DirtyPattern.Uniform,
                    HotSetMiB = hotSet > 0 ? hotSet : 64,
                },
            },
        };
    }

    private static int Label(OrleansMigrate.Fleet.VmSpec vm, string key, int fallback, int min, int max) =>
        vm.Labels.TryGetValue(key, out var text) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? Math.Clamp(value, min, max)
            : Math.Clamp(fallback, min, max);
}
