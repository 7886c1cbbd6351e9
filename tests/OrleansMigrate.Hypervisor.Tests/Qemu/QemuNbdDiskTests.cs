using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Qemu;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

/// <summary>The QEMU arguments of a cloud disk over NBD, and the refusals of a disk QEMU could not attach.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class QemuNbdDiskTests
{
    [Fact]
    public void The_disk_is_an_nbd_blockdev_with_reconnect_delay_on_a_virtio_blk_device()
    {
        var args = new QemuNbdDisk { Host = "10.77.0.2", Port = 10809, ExportName = "d-1@h-2#g2" }.Arguments();

        Assert.Equal(4, args.Count);
        Assert.Equal("-blockdev", args[0]);
        var node = JsonNode.Parse(args[1])!;
        Assert.Equal(("nbd", "nbd0", "d-1@h-2#g2", 5), (node["driver"]!.GetValue<string>(), node["node-name"]!.GetValue<string>(), node["export"]!.GetValue<string>(), node["reconnect-delay"]!.GetValue<int>()));
        Assert.Equal(("inet", "10.77.0.2", "10809"), (node["server"]!["type"]!.GetValue<string>(), node["server"]!["host"]!.GetValue<string>(), node["server"]!["port"]!.GetValue<string>()));
        Assert.Equal(["-device", "virtio-blk-pci,drive=nbd0,id=vd-nbd0"], args.Skip(2));
    }

    [Theory]
    [InlineData("storage", 10809, "d", 5, "Host")]
    [InlineData("10.77.0.2", 0, "d", 5, "Port")]
    [InlineData("10.77.0.2", 10809, "", 5, "ExportName")]
    [InlineData("10.77.0.2", 10809, "d\n-x", 5, "ExportName")]
    [InlineData("10.77.0.2", 10809, "d", 0, "ReconnectDelaySeconds")]
    public void A_disk_qemu_could_not_attach_is_refused_naming_the_field(string host, int port, string export, int delay, string field)
    {
        var disk = new QemuNbdDisk { Host = host, Port = port, ExportName = export, ReconnectDelaySeconds = delay };

        Assert.Equal(field, Assert.Throws<ArgumentException>(disk.Validate).ParamName);
    }
}
