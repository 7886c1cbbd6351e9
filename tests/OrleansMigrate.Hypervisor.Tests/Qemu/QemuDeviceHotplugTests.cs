using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

/// <summary>The SR-IOV VF flow on QEMU with a virtio fallback NIC in its own PCIe root port (q35, native PCIe hotplug):
/// plugged after the boot, <c>device_del</c> on the source before the migration (gone from <c>query-pci</c> and
/// <c>qom-list</c>), the guest migrated with the port empty on both sides, <c>device_add</c> on the destination after it
/// resumed (there in <c>query-pci</c>). The boot-sector guest completes no pass on q35 here (it does on <c>pc</c>, whose
/// ACPI hotplug it cannot answer), so this test checks the devices and the migration, not the guest's memory.</summary>
[Collection("qemu")]
[Trait(TestCategory.Trait, TestCategory.Qemu)]
public sealed class QemuDeviceHotplugTests(QemuEnvironment env) : IDisposable
{
    private const string Vf = "vf-mlx5-0";

    public void Dispose() => env.EndTest();

    [Fact]
    public async Task A_VF_stand_in_is_unplugged_before_the_migration_and_plugged_on_the_destination_after_the_resume()
    {
        await using var source = new QemuHypervisorDriver("hp-src", env.Options());
        await using var destination = new QemuHypervisorDriver("hp-dst", env.Options());
        await source.CreateVmAsync(Spec("vm-hp"));
        await source.StartVmAsync("vm-hp");
        await source.PlugDeviceAsync("vm-hp", Vf);
        // device_add answers before the device shows in query-pci on a loaded machine (a full run saw only its root port).
        await Eventually.TrueAsync(async () => (await PciIdsAsync(source)).Contains(Vf), TimeSpan.FromSeconds(10), "the VF stand-in shows in query-pci", TimeSpan.FromMilliseconds(50));
        Assert.Equal([Vf], await source.PluggedDevicesAsync("vm-hp"));

        await source.UnplugDeviceAsync("vm-hp", Vf);
        Assert.DoesNotContain(Vf, await PciIdsAsync(source));
        Assert.DoesNotContain(Vf, await PeripheralsAsync(source));
        Assert.Empty(await source.PluggedDevicesAsync("vm-hp"));

        await destination.CreateVmAsync(Spec("vm-hp"));
        var incoming = await destination.PrepareIncomingAsync("vm-hp", new IncomingMigrationOptions());
        var outgoing = await source.StartOutgoingAsync("vm-hp", incoming.Endpoint, QemuTestGuest.Converging);
        await outgoing.PreSwitchover.WaitAsync(QemuTestGuest.Bound);
        await outgoing.FinalCopyAsync().WaitAsync(QemuTestGuest.Bound);
        await incoming.Received.WaitAsync(QemuTestGuest.Bound);
        await incoming.ResumeAsync().WaitAsync(QemuTestGuest.Bound);
        await outgoing.CompleteAsync().WaitAsync(QemuTestGuest.Bound);
        Assert.Equal(VmState.Running, (await destination.GetVmAsync("vm-hp")).State);
        Assert.Equal(VmState.PostMigrate, (await source.GetVmAsync("vm-hp")).State);
        Assert.DoesNotContain(Vf, await PciIdsAsync(destination));

        await destination.PlugDeviceAsync("vm-hp", Vf);

        await Eventually.TrueAsync(async () => (await PciIdsAsync(destination)).Contains(Vf), TimeSpan.FromSeconds(10), "the VF stand-in shows in query-pci on the destination", TimeSpan.FromMilliseconds(50));
        Assert.Contains(Vf, await PeripheralsAsync(destination));
        var status = JsonNode.Parse(await destination.PassthroughAsync("vm-hp", """{"execute":"query-status"}"""))!["return"]!["status"]!.GetValue<string>();
        Assert.Equal("running", status);
    }

    [Fact]
    public async Task A_device_the_spec_does_not_name_is_refused_and_a_second_unplug_is_a_no_op()
    {
        await using var driver = new QemuHypervisorDriver("hp-one", env.Options());
        await driver.CreateVmAsync(Spec("vm-hp1"));
        await driver.StartVmAsync("vm-hp1");

        await Assert.ThrowsAsync<ArgumentException>(() => driver.PlugDeviceAsync("vm-hp1", "vf-other-0"));
        await driver.PlugDeviceAsync("vm-hp1", Vf);
        await driver.UnplugDeviceAsync("vm-hp1", Vf);
        await driver.UnplugDeviceAsync("vm-hp1", Vf);

        Assert.DoesNotContain(Vf, await PciIdsAsync(driver, "vm-hp1"));
    }

    private VmSpec Spec(string vmId) => env.Spec(vmId) with
    {
        Qemu = new QemuGuest { ImagePath = env.ImageFor(vmId), MachineType = "q35" },
        HotplugDevices = [Vf],
    };

    private static async Task<List<string>> PciIdsAsync(QemuHypervisorDriver driver, string vmId = "vm-hp")
    {
        var reply = JsonNode.Parse(await driver.PassthroughAsync(vmId, """{"execute":"query-pci"}"""))!["return"]!.AsArray();
        var ids = new List<string>();
        void Walk(JsonArray? devices)
        {
            foreach (var d in devices ?? [])
            {
                if (d?["qdev_id"]?.GetValue<string>() is { Length: > 0 } id)
                    ids.Add(id);
                Walk(d?["pci_bridge"]?["devices"] as JsonArray);
            }
        }

        foreach (var bus in reply)
            Walk(bus?["devices"] as JsonArray);
        return ids;
    }

    private static async Task<List<string>> PeripheralsAsync(QemuHypervisorDriver driver) =>
        [.. JsonNode.Parse(await driver.PassthroughAsync("vm-hp", """{"execute":"qom-list","arguments":{"path":"/machine/peripheral"}}"""))!["return"]!
            .AsArray().Select(n => n!["name"]!.GetValue<string>())];
}
