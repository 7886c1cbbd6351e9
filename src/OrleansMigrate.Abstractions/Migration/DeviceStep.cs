namespace OrleansMigrate.Migration;

/// <summary>One hot-plug step a live migration took for a VM's SR-IOV VFs: unplugged on the source before pre-copy,
/// plugged on the destination after the resume (or back on the source when it rolled back).</summary>
/// <param name="Device">The device's id on the VM, e.g. <c>vf-mlx5-0</c>.</param>
/// <param name="Host">Where the step ran.</param>
/// <param name="Action">Unplug or plug.</param>
/// <param name="At">When it finished.</param>
/// <param name="LatencyMs">How long the host agent's hypervisor took (the simulated drivers' modelled latency; QEMU's
/// <c>device_del</c> until <c>DEVICE_DELETED</c>, or <c>device_add</c>).</param>
[GenerateSerializer, Immutable]
[Alias("omig.DeviceStep")]
public sealed record DeviceStep(
    [property: Id(0)] string Device,
    [property: Id(1)] string Host,
    [property: Id(2)] DeviceAction Action,
    [property: Id(3)] DateTimeOffset At,
    [property: Id(4)] double LatencyMs);
