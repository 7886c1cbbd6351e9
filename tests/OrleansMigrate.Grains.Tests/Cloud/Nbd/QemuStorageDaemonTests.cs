using OrleansMigrate.Grains.Cloud.Nbd;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Cloud.Nbd;

/// <summary>The daemon's own life: started inside a network namespace (its NBD server reachable there only), attached to
/// by a second party through its socket (as a control silo attaches to the lab's daemon), killed by pid.</summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class QemuStorageDaemonTests
{
    [Fact]
    public async Task A_daemon_started_in_a_namespace_serves_there_and_is_killed_by_its_pid()
    {
        var ns = $"omn-st{Environment.ProcessId % 100000}";
        var root = Path.Combine(Path.GetTempPath(), $"omn-{Guid.NewGuid():N}"[..16]);
        await HostCommand.RunAsync("ip", ["netns", "add", ns]);
        try
        {
            await HostCommand.RunAsync("ip", ["link", "set", "lo", "up"], netns: ns);
            var port = NbdLab.FreePort();
            int pid;
            await using (var daemon = await QemuStorageDaemon.StartAsync(root, "127.0.0.1", port, netns: ns))
            {
                pid = daemon.ProcessId!.Value;
                Assert.Equal("qemu-storage-da", File.ReadAllText($"/proc/{pid}/comm").Trim());
                var store = new NbdCloudDiskBackend(daemon, imageSizeMiB: 4);
                await store.CreateAsync("d-1", "h-1");
                var uri = $"nbd://127.0.0.1:{port}/{Uri.EscapeDataString(store.AttachmentFor("d-1", "h-1").ExportName)}";

                var inside = await HostCommand.TryRunAsync("qemu-io", ["-f", "raw", uri, "-c", "write -P 0x41 0 4k"], netns: ns);
                var outside = await HostCommand.TryRunAsync("qemu-io", ["-f", "raw", uri, "-c", "write -P 0x42 4k 4k"]);

                Assert.True(inside.ExitCode == 0, inside.Stderr);
                Assert.NotEqual(0, outside.ExitCode);
                var image = await File.ReadAllBytesAsync(store.ImagePath("d-1"));
                Assert.Equal((0x41, 0x00), (image[0], image[4096]));
            }

            Assert.False(Directory.Exists($"/proc/{pid}"), $"the daemon {pid} outlived its owner");
        }
        finally
        {
            await HostCommand.TryRunAsync("ip", ["netns", "del", ns]);
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    [Fact]
    public async Task A_silo_attaches_to_a_daemon_the_lab_started_reads_its_pid_and_serves_disks_on_it()
    {
        // The lab's side: a daemon started by command line, nobody on its QMP socket (a monitor serves one client).
        var root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"omn-{Guid.NewGuid():N}"[..16])).FullName;
        var socket = Path.Combine(root, "qmp.sock");
        using var lab = NbdLab.StartSupervised(root, socket);
        try
        {
            await NbdLab.WaitForPidFileAsync(root);
            var port = NbdLab.FreePort();
            await using var attached = await QemuStorageDaemon.AttachAsync(socket, root, "127.0.0.1", port);
            Assert.False(attached.Owned);
            Assert.Equal(lab.Id, attached.ProcessId);
            var store = new NbdCloudDiskBackend(attached, imageSizeMiB: 4);
            await store.CreateAsync("d-1", "h-1");
            var uri = $"nbd://127.0.0.1:{port}/{Uri.EscapeDataString(store.AttachmentFor("d-1", "h-1").ExportName)}";
            var written = await HostCommand.TryRunAsync("qemu-io", ["-f", "raw", uri, "-c", "write -P 0x43 0 4k"]);
            Assert.True(written.ExitCode == 0, written.Stderr);
            Assert.Equal(0x43, (await File.ReadAllBytesAsync(store.ImagePath("d-1")))[0]);

            await attached.KillAsync();
            Assert.True(lab.WaitForExit(5000), "the attached daemon was not killed by its pid");
        }
        finally
        {
            if (!lab.HasExited)
            {
                lab.Kill();
            }

            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Attaching_to_a_missing_socket_is_refused_with_the_path()
    {
        var missing = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            QemuStorageDaemon.AttachAsync("/nonexistent/omn-qsd.sock", "/tmp", "127.0.0.1", 10809));
        Assert.Contains("'/nonexistent/omn-qsd.sock' does not exist", missing.Message);
    }
}
