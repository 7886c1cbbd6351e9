using System.Diagnostics;
using OrleansMigrate.Grains.Cloud.Nbd;
using OrleansMigrate.Errors;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Cloud.Nbd;

/// <summary>
/// The storage daemon dying under the block store. A daemon the store started is started again at once and the store
/// adds back what its table says is live — each disk's node and every export not fenced — so a guest's NBD client
/// (attached with <c>reconnect-delay</c>) reconnects on its next request, while a fenced holder stays fenced. A daemon
/// someone else supervises is attached again once it is back (the store looks every second); meanwhile every call fails with Unavailable naming the
/// daemon, and changes nothing. Each test has its own daemon and QEMU (named <c>omn-…</c>), killed by pid.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class NbdDaemonRecoveryTests
{
    [Fact]
    public async Task A_daemon_killed_under_a_running_guest_is_started_again_with_its_live_exports_and_the_guest_writes_again()
    {
        await using var lab = await NbdLab.StartAsync();
        await lab.Store.CreateAsync("d-1", "h-1");
        await using var vm = await NbdQemu.StartAsync(lab.Root, "src", lab.Store.AttachmentFor("d-1", "h-1"), incoming: false);
        await vm.ExecuteAsync("cont");
        await vm.WriteAsync(0x91, 0);
        AssertImage(lab, "d-1", 0, 0x91, "written before the daemon died");
        await lab.Store.OpenReadOnlyAsync("d-1", "h-2"); // a prepared destination: its export is live too

        // A second disk handed over from h-1 to h-2: h-1's export of it is fenced, and must stay so after the restart.
        await lab.Store.CreateAsync("d-2", "h-1");
        await lab.Store.OpenReadOnlyAsync("d-2", "h-2");
        await lab.Store.ReopenReadWriteAsync("d-2", "h-2", 2);

        var before = lab.Store.Daemon.ProcessId;
        await lab.Store.Daemon.KillAsync();
        await Eventually.TrueAsync(() => lab.Store.DaemonRestarts == 1, TimeSpan.FromSeconds(20), "the store starting its daemon again");
        Assert.True(lab.Store.Daemon.IsAlive);
        Assert.NotEqual(before, lab.Store.Daemon.ProcessId);

        Assert.Equal(["d-1@h-1#g1", "d-1@h-2#g2"], (await lab.Store.LiveExportsAsync("d-1")).Order(StringComparer.Ordinal));
        Assert.Equal(["d-2@h-2#g2"], await lab.Store.LiveExportsAsync("d-2"));

        await vm.WriteAsync(0x92, 65536);
        AssertImage(lab, "d-1", 65536, 0x92, $"the guest's write after the restart (QEMU said: {vm.Output})");
        AssertImage(lab, "d-1", 0, 0x91, "the write from before the restart");

        var fenced = await HostCommand.TryRunAsync("qemu-io", ["-f", "raw", lab.Uri("d-2@h-1#g1"), "-c", "write -P 0xee 131072 4k"]);
        Assert.NotEqual(0, fenced.ExitCode);
        AssertImage(lab, "d-2", 131072, 0x00, "the fenced holder after the restart");
    }

    [Fact]
    public async Task With_an_attached_daemon_down_calls_fail_naming_it_and_change_nothing_and_once_it_is_back_they_work_again()
    {
        var root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"omn-{Guid.NewGuid():N}"[..16])).FullName;
        var socket = Path.Combine(root, "qmp.sock");
        var port = NbdLab.FreePort();
        var supervised = NbdLab.StartSupervised(root, socket);
        try
        {
            await NbdLab.WaitForPidFileAsync(root);
            await using var store = new NbdCloudDiskBackend(await QemuStorageDaemon.AttachAsync(socket, root, "127.0.0.1", port), imageSizeMiB: 4);
            await store.CreateAsync("d-1", "h-1");

            await NbdLab.StopSupervisedAsync(supervised);
            var down = await Assert.ThrowsAsync<OmigException>(() => store.OpenReadOnlyAsync("d-1", "h-2"));
            Assert.Equal((OmigErrorCode.Unavailable, "disk"), (down.Code, down.Field));
            Assert.Contains("storage daemon", down.Reason);
            Assert.Contains(socket, down.Reason);
            Assert.Equal(["h-1"], store.Inspect("d-1")!.Handles.Keys); // nothing recorded for h-2
            var listing = await Assert.ThrowsAsync<OmigException>(() => store.LiveExportsAsync("d-1")); // a read too: not an empty answer
            Assert.Equal((OmigErrorCode.Unavailable, "disk"), (listing.Code, listing.Field));
            Assert.Contains("storage daemon", store.LastReviveError); // the last try to bring it back, kept for operators

            // Whoever supervises it starts it again (here: the test); the store notices by itself (no call comes), attaches
            // again and adds back what was live.
            supervised = NbdLab.StartSupervised(root, socket);
            await NbdLab.WaitForPidFileAsync(root);
            await Eventually.TrueAsync(() => store.DaemonRestarts == 1, TimeSpan.FromSeconds(20), "the store attaching to the daemon again by itself");
            Assert.Null(store.LastReviveError);
            Assert.Equal(["d-1@h-1#g1"], await store.LiveExportsAsync("d-1"));
            await store.OpenReadOnlyAsync("d-1", "h-2");
            Assert.Equal(["d-1@h-1#g1", "d-1@h-2#g2"], (await store.LiveExportsAsync("d-1")).Order(StringComparer.Ordinal));
            var uri = $"nbd://127.0.0.1:{port}/{Uri.EscapeDataString("d-1@h-1#g1")}";
            var written = await HostCommand.TryRunAsync("qemu-io", ["-f", "raw", uri, "-c", "write -P 0x44 0 4k"]);
            Assert.True(written.ExitCode == 0, written.Stderr);
            Assert.Equal(0x44, (await File.ReadAllBytesAsync(store.ImagePath("d-1")))[0]);
        }
        finally
        {
            await NbdLab.StopSupervisedAsync(supervised);
            Directory.Delete(root, recursive: true);
        }
    }

    private static void AssertImage(NbdLab lab, string disk, long offset, byte expected, string what)
    {
        var bytes = new byte[4096];
        using (var file = new FileStream(lab.Store.ImagePath(disk), FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            file.Position = offset;
            file.ReadExactly(bytes);
        }

        Assert.True(bytes.All(b => b == expected), $"{what}: the image of {disk} at {offset} holds 0x{bytes[0]:x2}…, expected 0x{expected:x2}");
    }
}
