using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Testing;

namespace OrleansMigrate.Hypervisor.Tests.Linux;

/// <summary>The Linux boot, NIC and data-disk fields of a QEMU guest are checked before anything starts: each bad
/// value is refused with its field named, and nothing is created.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class LinuxGuestSpecTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("omg-spec-").FullName;
    private readonly string _images;
    private readonly string _outside;

    public LinuxGuestSpecTests()
    {
        _images = Directory.CreateDirectory(Path.Combine(_root, "images")).FullName;
        _outside = Directory.CreateDirectory(Path.Combine(_root, "outside")).FullName;
        foreach (var name in new[] { "boot.img", "vmlinuz", "initrd.img", "data.img" })
            File.WriteAllBytes(Path.Combine(_images, name), new byte[512]);
        File.WriteAllBytes(Path.Combine(_outside, "vmlinuz"), new byte[512]);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private QemuHypervisorDriver Driver()
    {
        var options = new QemuDriverOptions { RuntimeDirectory = Path.Combine(_root, "run"), StopGuestsOnShutdown = true };
        options.ImageDirectories.Add(_images);
        return new QemuHypervisorDriver("omg-spec", options);
    }

    private QemuGuest Good() => new()
    {
        ImagePath = Path.Combine(_images, "boot.img"),
        Linux = new QemuLinuxBoot
        {
            KernelPath = Path.Combine(_images, "vmlinuz"),
            InitrdPath = Path.Combine(_images, "initrd.img"),
            CommandLine = "console=ttyS0 omig.ip=172.30.0.10/24",
            ConsoleLogPath = Path.Combine(_images, "console.log"),
        },
        Nics = [new QemuNic { TapName = "omgtap0", Mac = "52:54:00:12:34:56" }],
        DataDiskPath = Path.Combine(_images, "data.img"),
    };

    private static VmSpec Spec(string id, QemuGuest guest) => new() { VmId = id, MemoryMiB = 64, VCpuCount = 1, Qemu = guest };

    [Fact]
    public async Task A_good_linux_guest_is_accepted()
    {
        await using var driver = Driver();
        var info = await driver.CreateVmAsync(Spec("vm-good", Good()));
        Assert.Equal(VmState.Created, info.State);
    }

    public static TheoryData<string, string> BadFields() => new()
    {
        { "kernel-outside", "Linux.KernelPath" },
        { "initrd-missing", "Linux.InitrdPath" },
        { "cmdline-newline", "Linux.CommandLine" },
        { "console-outside", "Linux.ConsoleLogPath" },
        { "console-comma", "Linux.ConsoleLogPath" },
        { "tap-long", "Nics[0].TapName" },
        { "tap-comma", "Nics[0].TapName" },
        { "mac-bad", "Nics[0].Mac" },
        { "mac-multicast", "Nics[0].Mac" },
        { "mac-twice", "Nics[1].Mac" },
        { "tap-twice", "Nics[1].TapName" },
        { "data-outside", "DataDiskPath" },
        { "data-is-boot", "DataDiskPath" },
    };

    [Theory]
    [MemberData(nameof(BadFields))]
    public async Task A_bad_field_is_refused_with_its_name_and_nothing_is_created(string fault, string field)
    {
        var good = Good();
        var guest = fault switch
        {
            "kernel-outside" => good with { Linux = good.Linux! with { KernelPath = Path.Combine(_outside, "vmlinuz") } },
            "initrd-missing" => good with { Linux = good.Linux! with { InitrdPath = Path.Combine(_images, "none.img") } },
            "cmdline-newline" => good with { Linux = good.Linux! with { CommandLine = "console=ttyS0\n-device x" } },
            "console-outside" => good with { Linux = good.Linux! with { ConsoleLogPath = Path.Combine(_outside, "c.log") } },
            "console-comma" => good with { Linux = good.Linux! with { ConsoleLogPath = Path.Combine(_images, "c,append=on.log") } },
            "tap-long" => good with { Nics = [new QemuNic { TapName = "omg-tap-far-too-long", Mac = "52:54:00:12:34:56" }] },
            "tap-comma" => good with { Nics = [new QemuNic { TapName = "omg,id=x", Mac = "52:54:00:12:34:56" }] },
            "mac-bad" => good with { Nics = [new QemuNic { TapName = "omgtap0", Mac = "52:54:00:12:34" }] },
            "mac-multicast" => good with { Nics = [new QemuNic { TapName = "omgtap0", Mac = "01:54:00:12:34:56" }] },
            "mac-twice" => good with { Nics = [new QemuNic { TapName = "omgtap0", Mac = "52:54:00:12:34:56" }, new QemuNic { TapName = "omgtap1", Mac = "52:54:00:12:34:56" }] },
            "tap-twice" => good with { Nics = [new QemuNic { TapName = "omgtap0", Mac = "52:54:00:12:34:56" }, new QemuNic { TapName = "omgtap0", Mac = "52:54:00:12:34:57" }] },
            "data-outside" => good with { DataDiskPath = Path.Combine(_outside, "vmlinuz") },
            "data-is-boot" => good with { DataDiskPath = good.ImagePath },
            _ => throw new ArgumentOutOfRangeException(nameof(fault)),
        };

        await using var driver = Driver();
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => driver.CreateVmAsync(Spec("vm-bad", guest)));
        Assert.Contains(field, ex.Message, StringComparison.Ordinal);
        Assert.Empty(await driver.ListVmsAsync());
    }

    [Fact]
    public void The_devices_survive_the_state_file_for_adoption()
    {
        var good = Good();
        var json = QemuHypervisorDriver.GuestDevicesToJson(good);
        Assert.NotNull(json);
        var back = QemuHypervisorDriver.WithGuestDevices(new QemuGuest { ImagePath = good.ImagePath }, System.Text.Json.Nodes.JsonNode.Parse(json!.ToJsonString()));
        Assert.Equal(good.Linux, back.Linux);
        Assert.Equal(good.Nics, back.Nics);
        Assert.Equal(good.DataDiskPath, back.DataDiskPath);
        Assert.Null(QemuHypervisorDriver.GuestDevicesToJson(new QemuGuest { ImagePath = good.ImagePath }));
    }

    [Theory]
    [InlineData("52:54:00:12:34:56", true)]
    [InlineData("FE:FF:FF:FF:FF:FE", true)]
    [InlineData("53:54:00:12:34:56", false)]
    [InlineData("52-54-00-12-34-56", false)]
    [InlineData("52:54:00:12:34:5g", false)]
    [InlineData("", false)]
    public void Mac_syntax(string mac, bool valid) => Assert.Equal(valid, QemuHypervisorDriver.IsUnicastMac(mac));
}
