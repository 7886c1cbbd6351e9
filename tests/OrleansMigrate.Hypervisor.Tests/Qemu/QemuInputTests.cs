using System.Runtime.Versioning;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using static OrleansMigrate.Hypervisor.Tests.Qemu.QemuTestGuest;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

/// <summary>What the driver refuses before QEMU runs, what happens when QEMU does not start, and the runtime directory's permissions.</summary>
[Collection("qemu")]
[Trait(TestCategory.Trait, TestCategory.Qemu)]
public sealed class QemuInputTests(QemuEnvironment env) : IDisposable
{
    public void Dispose() => env.EndTest();

    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Mode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [Fact]
    public async Task An_image_outside_the_image_directories_is_refused_naming_the_path()
    {
        var outside = Path.Combine(Directory.CreateDirectory(Path.Combine(env.Root, "outside-1")).FullName, "guest.img");
        File.Copy(env.GuestImage, outside, overwrite: true);
        await using var driver = new QemuHypervisorDriver("h", env.Options());

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => driver.CreateVmAsync(SpecFor("vm-out", outside)));
        Assert.Contains(outside, ex.Message, StringComparison.Ordinal);
        Assert.Contains("outside the configured image directories", ex.Message, StringComparison.Ordinal);
        Assert.Empty(await driver.ListVmsAsync());
    }

    [Fact]
    public async Task A_symbolic_link_in_the_image_directory_pointing_outside_is_refused()
    {
        var target = Path.Combine(Directory.CreateDirectory(Path.Combine(env.Root, "outside-2")).FullName, "guest.img");
        File.Copy(env.GuestImage, target, overwrite: true);
        var link = Path.Combine(env.ImageDirectory, "link-out.img");
        File.Delete(link);
        File.CreateSymbolicLink(link, target);
        await using var driver = new QemuHypervisorDriver("h", env.Options());

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => driver.CreateVmAsync(SpecFor("vm-link", link)));
        Assert.Contains(link, ex.Message, StringComparison.Ordinal);
        Assert.Empty(await driver.ListVmsAsync());
    }

    [Fact]
    public async Task An_image_under_a_symbolically_linked_directory_pointing_outside_is_refused()
    {
        var outsideDir = Directory.CreateDirectory(Path.Combine(env.Root, "outside-3")).FullName;
        File.Copy(env.GuestImage, Path.Combine(outsideDir, "guest.img"), overwrite: true);
        var linkDir = Path.Combine(env.ImageDirectory, "linked-dir");
        if (!Directory.Exists(linkDir))
            Directory.CreateSymbolicLink(linkDir, outsideDir);
        var image = Path.Combine(linkDir, "guest.img");
        Assert.True(File.Exists(image));
        await using var driver = new QemuHypervisorDriver("h", env.Options());

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => driver.CreateVmAsync(SpecFor("vm-linkdir", image)));
        Assert.Contains(image, ex.Message, StringComparison.Ordinal);
        Assert.Empty(await driver.ListVmsAsync());
    }

    [Fact]
    public async Task A_missing_image_a_relative_path_and_a_spec_without_qemu_settings_are_refused()
    {
        await using var driver = new QemuHypervisorDriver("h", env.Options());
        var missing = Path.Combine(env.ImageDirectory, "no-such.img");

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => driver.CreateVmAsync(SpecFor("vm-missing", missing)));
        Assert.Contains(missing, ex.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);

        ex = await Assert.ThrowsAsync<ArgumentException>(() => driver.CreateVmAsync(SpecFor("vm-relative", "images/dirty-guest.img")));
        Assert.Contains("absolute", ex.Message, StringComparison.Ordinal);

        ex = await Assert.ThrowsAsync<ArgumentException>(() => driver.CreateVmAsync(new VmSpec { VmId = "vm-noqemu", MemoryMiB = 64, VCpuCount = 1 }));
        Assert.Contains("vm-noqemu", ex.Message, StringComparison.Ordinal);
        Assert.Contains("no QEMU settings", ex.Message, StringComparison.Ordinal);

        ex = await Assert.ThrowsAsync<ArgumentException>(() => driver.CreateVmAsync(env.Spec("vm-badmachine") with { Qemu = new QemuGuest { ImagePath = env.GuestImage, MachineType = "pc,accel=kvm" } }));
        Assert.Contains("pc,accel=kvm", ex.Message, StringComparison.Ordinal);
        Assert.Empty(await driver.ListVmsAsync());
    }

    [Fact]
    public async Task An_image_whose_name_holds_commas_and_spaces_boots_without_option_injection()
    {
        var image = Path.Combine(env.ImageDirectory, "guest, copy,file=etc-passwd,read-only=on x.img");
        File.Copy(env.GuestImage, image, overwrite: true);
        await using var driver = new QemuHypervisorDriver("h", env.Options());
        var spec = env.Spec("vm-comma") with { Qemu = new QemuGuest { ImagePath = image } };
        await driver.CreateVmAsync(spec);
        await driver.StartVmAsync(spec.VmId);

        await WaitForPassesAsync(driver, spec.VmId, 1);
        await AssertAdvancesConsistentlyAsync(driver, spec.VmId);
        var block = await driver.PassthroughAsync(spec.VmId, """{"execute":"query-block"}""");
        Assert.Contains("guest, copy,file=etc-passwd,read-only=on x.img", block, StringComparison.Ordinal);
        Assert.DoesNotContain("\"ro\":true", block, StringComparison.Ordinal);
        await driver.DestroyVmAsync(spec.VmId);
    }

    [Fact]
    public async Task A_qemu_that_exits_at_once_is_reported_with_its_exit_code_and_the_vm_is_not_running()
    {
        await using var driver = new QemuHypervisorDriver("h", env.Options(o => o.Binary = "/bin/false"));
        await driver.CreateVmAsync(env.Spec("vm-false"));

        var ex = await Assert.ThrowsAsync<QemuException>(() => driver.StartVmAsync("vm-false").WaitAsync(Bound));
        Assert.Contains("exited with code 1", ex.Message, StringComparison.Ordinal);
        var info = await driver.GetVmAsync("vm-false");
        Assert.Equal(VmState.Created, info.State);
        Assert.Null(driver.ProcessId("vm-false"));
    }

    [Fact]
    public async Task A_machine_type_qemu_rejects_is_reported_with_qemus_stderr_and_the_vm_is_not_running()
    {
        await using var driver = new QemuHypervisorDriver("h", env.Options());
        var spec = env.Spec("vm-nomachine") with { Qemu = new QemuGuest { ImagePath = env.GuestImage, MachineType = "nosuchmachine" } };
        await driver.CreateVmAsync(spec);

        var ex = await Assert.ThrowsAsync<QemuException>(() => driver.StartVmAsync(spec.VmId).WaitAsync(Bound));
        Assert.Contains("exited with code 1", ex.Message, StringComparison.Ordinal);
        Assert.Contains("unsupported machine type", ex.Message, StringComparison.Ordinal);
        Assert.Equal(VmState.Created, (await driver.GetVmAsync(spec.VmId)).State);
        Assert.Null(driver.ProcessId(spec.VmId));

        // Nor as a migration target.
        await Assert.ThrowsAsync<QemuException>(() => driver.PrepareIncomingAsync(spec.VmId, new IncomingMigrationOptions()).WaitAsync(Bound));
        Assert.NotEqual(VmState.Running, (await driver.GetVmAsync(spec.VmId)).State);
    }

    [Fact]
    public async Task A_missing_binary_is_reported()
    {
        await using var driver = new QemuHypervisorDriver("h", env.Options(o => o.Binary = Path.Combine(env.Root, "no-such-qemu")));
        await driver.CreateVmAsync(env.Spec("vm-nobinary"));

        var ex = await Assert.ThrowsAsync<QemuException>(() => driver.StartVmAsync("vm-nobinary").WaitAsync(Bound));
        Assert.Contains("no-such-qemu", ex.Message, StringComparison.Ordinal);
        Assert.Equal(VmState.Created, (await driver.GetVmAsync("vm-nobinary")).State);
    }

    [Fact]
    [SupportedOSPlatform("linux")]
    public async Task The_qmp_socket_is_0600_in_a_0700_runtime_directory_and_is_removed_on_destroy()
    {
        var runtime = Path.Combine(env.Root, "run-perm");
        Directory.CreateDirectory(runtime);
        File.SetUnixFileMode(runtime, Mode0700 | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        await using var driver = new QemuHypervisorDriver("h", env.Options(o => o.RuntimeDirectory = runtime));
        await driver.CreateVmAsync(env.Spec("vm-perm"));
        await driver.StartVmAsync("vm-perm");

        Assert.Equal(Mode0700, File.GetUnixFileMode(runtime));
        var socket = Assert.Single(Directory.GetFiles(runtime, "*.qmp"));
        Assert.Equal(Mode0600, File.GetUnixFileMode(socket));
        Assert.Equal(VmState.Running, (await driver.GetVmAsync("vm-perm")).State);

        await driver.DestroyVmAsync("vm-perm");
        Assert.False(File.Exists(socket));
        Assert.Empty(Directory.GetFiles(runtime));
    }

    private static VmSpec SpecFor(string vmId, string image) => new()
    {
        VmId = vmId,
        MemoryMiB = 64,
        VCpuCount = 1,
        Qemu = new QemuGuest { ImagePath = image },
    };
}
