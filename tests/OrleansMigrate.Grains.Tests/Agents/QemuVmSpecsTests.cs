using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Lab;

namespace OrleansMigrate.Tests.Agents;

/// <summary>A registry VM as a QEMU guest: the Linux boot from its labels, its NICs as this host's taps, its cloud disk over
/// NBD; bad labels refused naming the label.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class QemuVmSpecsTests
{
    private static VmSpec Vm(ImmutableDictionary<string, string>? labels = null, int disks = 0) => new(
        "vm-1", 1, 128, [], "standard", labels ?? ImmutableDictionary<string, string>.Empty,
        [.. Enumerable.Range(0, disks).Select(i => new DiskSpec($"d{i}", 1))],
        [new NicSpec("vpc1", "172.30.0.10", "52:54:00:00:00:10"), new NicSpec("vpc1", "172.30.0.11", "52:54:00:00:00:11")], [], "/images/boot.img");

    [Fact]
    public void Labels_give_a_direct_Linux_boot_with_its_console_in_the_given_directory()
    {
        var labels = ImmutableDictionary<string, string>.Empty
            .Add(QemuVmSpecs.KernelLabel, "/guest/vmlinuz").Add(QemuVmSpecs.InitrdLabel, "/guest/initrd.img").Add(QemuVmSpecs.AppendLabel, "console=ttyS0 omig.ip=172.30.0.10/24");
        var spec = QemuVmSpecs.From(Vm(labels), consoleDirectory: "/run/console");
        var linux = spec.Qemu!.Linux!;
        Assert.Equal("/guest/vmlinuz", linux.KernelPath);
        Assert.Equal("/guest/initrd.img", linux.InitrdPath);
        Assert.Equal("console=ttyS0 omig.ip=172.30.0.10/24", linux.CommandLine);
        Assert.Equal("/run/console/vm-1.console.log", linux.ConsoleLogPath);
        Assert.Equal("/images/boot.img", spec.Qemu.ImagePath);
    }

    [Fact]
    public void Without_labels_the_image_boots_with_no_NIC_and_no_network_disk()
    {
        var spec = QemuVmSpecs.From(Vm(disks: 1));
        Assert.Null(spec.Qemu!.Linux);
        Assert.Empty(spec.Qemu.Nics);
        Assert.Null(spec.Qemu.NbdDisk);
    }

    [Fact]
    public void With_tap_NICs_every_NIC_is_this_hosts_tap_with_the_VMs_MAC()
    {
        var nics = QemuVmSpecs.From(Vm(), tapNics: true).Qemu!.Nics;
        Assert.Equal([VmNicAttachment.TapName("vm-1", 0), VmNicAttachment.TapName("vm-1", 1)], nics.Select(n => n.TapName));
        Assert.Equal(["52:54:00:00:00:10", "52:54:00:00:00:11"], nics.Select(n => n.Mac));
    }

    [Fact]
    public void The_block_stores_attachment_becomes_the_nbd_disk()
    {
        var disks = new Dictionary<string, BlockDeviceAttachment> { ["d0"] = new("nbd", "10.77.0.2", 10809, "d0@h2#g2", 2) };
        var nbd = QemuVmSpecs.From(Vm(disks: 1), disks: disks).Qemu!.NbdDisk!;
        Assert.Equal("10.77.0.2", nbd.Host);
        Assert.Equal(10809, nbd.Port);
        Assert.Equal("d0@h2#g2", nbd.ExportName);
    }

    [Theory]
    [InlineData(QemuVmSpecs.KernelLabel, "vmlinuz", "labels.qemu.kernel")]
    [InlineData(QemuVmSpecs.AppendLabel, "console=ttyS0\u0001", "labels.qemu.append")]
    public void A_bad_boot_label_is_refused_naming_it(string label, string value, string field)
    {
        var labels = ImmutableDictionary<string, string>.Empty.Add(QemuVmSpecs.KernelLabel, "/guest/vmlinuz").SetItem(label, value);
        var ex = Assert.Throws<OmigException>(() => QemuVmSpecs.From(Vm(labels)));
        Assert.Equal(OmigErrorCode.InvalidArgument, ex.Code);
        Assert.Equal(field, ex.Field);
    }

    [Fact]
    public void An_initrd_or_command_line_without_a_kernel_is_refused()
    {
        var ex = Assert.Throws<OmigException>(() => QemuVmSpecs.From(Vm(ImmutableDictionary<string, string>.Empty.Add(QemuVmSpecs.AppendLabel, "console=ttyS0"))));
        Assert.Equal("labels.qemu.append", ex.Field);
    }

    [Fact]
    public void Two_network_disks_or_a_protocol_other_than_nbd_are_refused()
    {
        var two = new Dictionary<string, BlockDeviceAttachment> { ["d0"] = new("nbd", "10.77.0.2", 10809, "d0@h1#g1", 1), ["d1"] = new("nbd", "10.77.0.2", 10809, "d1@h1#g1", 1) };
        Assert.Equal("disks", Assert.Throws<OmigException>(() => QemuVmSpecs.From(Vm(disks: 2), disks: two)).Field);
        var iscsi = new Dictionary<string, BlockDeviceAttachment> { ["d0"] = new("iscsi", "10.77.0.2", 3260, "iqn", 1) };
        Assert.Equal("disks", Assert.Throws<OmigException>(() => QemuVmSpecs.From(Vm(disks: 1), disks: iscsi)).Field);
    }
}
