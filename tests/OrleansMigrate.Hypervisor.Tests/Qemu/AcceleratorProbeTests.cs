using OrleansMigrate.Hypervisor.Qemu;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

/// <summary>
/// <c>auto</c> picks KVM only when it runs a guest at speed: the verdict on the probe guest's progress, the probe image
/// against its source, and the probe against a QEMU that cannot start KVM at all.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Qemu)]
public sealed class AcceleratorProbeTests
{
    [Theory]
    [InlineData(0u, 2.0, "tcg")] // the guest never wrote its header: nested KVM stuck in the BIOS
    [InlineData(710u, 2.0, "tcg")] // ~355 pages/s: the nested KVM measured on our CI machines
    [InlineData(19_999u, 1.9, "tcg")]
    [InlineData(20_000u, 2.5, "tcg")] // enough pages, too late
    [InlineData(20_000u, 1.0, "kvm")]
    [InlineData(3_000_000u, 0.2, "kvm")] // hardware KVM
    public void The_verdict_needs_enough_pages_within_the_window(uint position, double seconds, string expected)
    {
        var choice = AcceleratorProbe.Judge(position, TimeSpan.FromSeconds(seconds));
        Assert.Equal(expected, choice.Accelerator);
        Assert.Contains(position.ToString(System.Globalization.CultureInfo.InvariantCulture) + " pages", choice.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void The_embedded_probe_image_is_the_dirtying_guest_built_from_its_source()
    {
        var dir = Directory.CreateTempSubdirectory("omig-probe-img-");
        try
        {
            var path = Path.Combine(dir.FullName, "probe.img");
            var build = Path.Combine(QemuEnvironment.RepositoryRoot(), "guest", "build.sh");
            using (var p = System.Diagnostics.Process.Start("bash", [build, path, "256", "1000"]))
            {
                Assert.True(p.WaitForExit(120_000), "guest/build.sh timed out");
                Assert.Equal(0, p.ExitCode);
            }

            Assert.Equal(File.ReadAllBytes(path), AcceleratorProbe.ProbeImage());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Configured_accelerators_are_taken_as_configured_without_a_probe()
    {
        var kvm = await AcceleratorProbe.ResolveAsync(new QemuDriverOptions { Accelerator = "kvm", Binary = "/nonexistent/qemu" });
        Assert.Equal("kvm", kvm.Accelerator);
        var tcg = await AcceleratorProbe.ResolveAsync(new QemuDriverOptions { Accelerator = "tcg", Binary = "/nonexistent/qemu" });
        Assert.Equal("tcg", tcg.Accelerator);
        Assert.Contains("configured", tcg.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Auto_falls_back_to_TCG_and_says_why_when_KVM_cannot_run_the_probe_guest()
    {
        // A "QEMU" that exits at once, as QEMU does when KVM cannot be initialised: auto must not pick KVM.
        var dir = Directory.CreateTempSubdirectory("omig-probe-");
        try
        {
            var fake = Path.Combine(dir.FullName, "qemu-no-kvm");
            await File.WriteAllTextAsync(fake, "#!/bin/sh\necho 'failed to initialize kvm: No such device' >&2\nexit 1\n");
            if (OperatingSystem.IsLinux())
                File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var choice = await AcceleratorProbe.ResolveAsync(new QemuDriverOptions { Binary = fake, RuntimeDirectory = Path.Combine(dir.FullName, "run"), StartTimeoutMs = 5_000 });
            Assert.Equal("tcg", choice.Accelerator);
            Assert.False(string.IsNullOrWhiteSpace(choice.Reason));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
