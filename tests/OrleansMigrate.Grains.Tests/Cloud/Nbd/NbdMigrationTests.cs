using System.Diagnostics;
using System.Text.Json.Nodes;
using OrleansMigrate.Grains.Cloud.Nbd;
using OrleansMigrate.Hypervisor.Linux;

namespace OrleansMigrate.Tests.Cloud.Nbd;

/// <summary>
/// Real QEMU migrations whose disk is a cloud disk on the NBD store: the source attached to its export
/// (<c>d-1@h-1#g1</c>), the destination started on its own (<c>d-1@h-2#g2</c>), the hand-over done where the
/// switchover does it — after the source reports the migration completed (it flushed and inactivated its disk through
/// its export), before the destination is resumed. Each test has its own daemon and QEMUs (named <c>omn-…</c>), all
/// killed by pid.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class NbdMigrationTests
{
    private const string Disk = "d-1";

    [Fact]
    public async Task After_the_hand_over_the_destination_writes_and_the_old_holder_is_fenced_even_on_a_live_connection()
    {
        await using var lab = await NbdLab.StartAsync();
        await lab.Store.CreateAsync(Disk, "h-1");
        await using var source = await NbdQemu.StartAsync(lab.Root, "src", lab.Store.AttachmentFor(Disk, "h-1"), incoming: false);
        await source.ExecuteAsync("cont");
        await source.WriteAsync(0x51, 0);
        AssertImage(lab, 0, 0x51, "the source writes through its export");

        await lab.Store.OpenReadOnlyAsync(Disk, "h-2");
        var (src, dst) = (lab.Store.AttachmentFor(Disk, "h-1"), lab.Store.AttachmentFor(Disk, "h-2"));
        Assert.Equal(("d-1@h-1#g1", "d-1@h-2#g2"), (src.ExportName, dst.ExportName));
        await using var destination = await StartDestinationAsync(lab, dst);

        // A second client of the source's export, connected before the fence (as a stale writer would be).
        await using var stale = await QemuIo.OpenAsync(lab.Uri(src.ExportName));
        Assert.Contains("wrote 4096/4096", await stale.RunAsync("write -P 0x53 196608 4k"));
        AssertImage(lab, 196608, 0x53, "the stale client could write before the fence");

        await MigrateToCompletionAsync(source, destination);
        await lab.Store.ReopenReadWriteAsync(Disk, "h-2", 2);
        await destination.ExecuteAsync("cont");
        Assert.Equal("running", await destination.RunStatusAsync());
        await destination.WriteAsync(0x52, 65536);
        AssertImage(lab, 65536, 0x52, "the destination writes after the hand-over");

        // THE FENCE: the old holder's connection is cut, and its export name no longer exists.
        var cut = await stale.RunAsync("write -P 0xef 262144 4k");
        Assert.DoesNotContain("wrote", cut);
        var fresh = await HostCommand.TryRunAsync("qemu-io", ["-f", "raw", lab.Uri(src.ExportName), "-c", "write -P 0xee 131072 4k"]);
        Assert.NotEqual(0, fresh.ExitCode);
        Assert.Contains("not present", fresh.Stderr + fresh.Stdout);
        AssertImage(lab, 131072, 0x00, "the fenced holder's new connection wrote nothing");
        AssertImage(lab, 262144, 0x00, "the fenced holder's live connection wrote nothing");
        Assert.Equal([dst.ExportName], await lab.Store.LiveExportsAsync(Disk));

        // The store's own count of what the old holder wrote after its fence: read from the holder's node, 0; final once
        // the holder is closed. The destination's writes (its own node) are not in it.
        var running = Assert.Single(await lab.Store.FenceAuditsAsync(Disk));
        Assert.Equal(("h-1", 2L, (DateTimeOffset?)null, (long?)0, (string?)null), (running.HostId, running.FencedForGeneration, running.EndedAt, running.BytesWrittenAfter, running.NotChecked));
        await stale.DisposeAsync();
        await lab.Store.CloseAsync(Disk, "h-1");
        var ended = Assert.Single(await lab.Store.FenceAuditsAsync(Disk));
        Assert.Equal(("closed", (long?)0), (ended.End, ended.BytesWrittenAfter));
    }

    [Fact]
    public async Task A_rollback_after_the_fence_gives_the_source_its_disk_back_and_its_writes_land()
    {
        await using var lab = await NbdLab.StartAsync();
        await lab.Store.CreateAsync(Disk, "h-1");
        await using var source = await NbdQemu.StartAsync(lab.Root, "src", lab.Store.AttachmentFor(Disk, "h-1"), incoming: false);
        await source.ExecuteAsync("cont");
        await lab.Store.OpenReadOnlyAsync(Disk, "h-2");
        var dst = lab.Store.AttachmentFor(Disk, "h-2");
        await using var destination = await StartDestinationAsync(lab, dst);
        await MigrateToCompletionAsync(source, destination);
        await lab.Store.ReopenReadWriteAsync(Disk, "h-2", 2);

        // The destination is never resumed: the migration rolls back. The disk goes back to the source at generation 3
        // (its export re-added under the name its QEMU is attached to), fencing the destination.
        await lab.Store.ResumeWriterAsync(Disk, "h-1", 3);
        await source.ExecuteAsync("cont");
        Assert.Equal("running", await source.RunStatusAsync());
        await source.WriteAsync(0x61, 327680);
        AssertImage(lab, 327680, 0x61, $"the rolled-back source writes again (QEMU said: {source.Output})");

        var fenced = await HostCommand.TryRunAsync("qemu-io", ["-f", "raw", lab.Uri(dst.ExportName), "-c", "write -P 0xee 393216 4k"]);
        Assert.NotEqual(0, fenced.ExitCode);
        AssertImage(lab, 393216, 0x00, "the destination fenced by the rollback wrote nothing");
        Assert.Equal(["d-1@h-1#g1"], await lab.Store.LiveExportsAsync(Disk));

        // Two fences: the source's at the take-over (ended when the disk was handed back, before the source wrote again:
        // its write at 327680 is not counted) and the destination's at the rollback (running; it wrote nothing).
        var audits = await lab.Store.FenceAuditsAsync(Disk);
        Assert.Equal([("h-1", 2L, "handed-back", (long?)0), ("h-2", 3L, null, (long?)0)],
            audits.Select(a => (a.HostId, a.FencedForGeneration, a.End, a.BytesWrittenAfter)));
    }

    [Fact]
    public async Task Fencing_at_pre_switchover_already_finds_the_source_flushed_so_its_completion_needs_no_export()
    {
        // QEMU 7.2 stops the source and flushes its disks (vm_stop: drain + flush) BEFORE it pauses at pre-switchover;
        // completing, it inactivates them, whose flush is skipped when nothing was written since (raw over NBD has no
        // metadata to write). So a fence at pre-switchover does not fail the migration, and nothing written is lost.
        await using var lab = await NbdLab.StartAsync();
        await lab.Store.CreateAsync(Disk, "h-1");
        await using var source = await NbdQemu.StartAsync(lab.Root, "src", lab.Store.AttachmentFor(Disk, "h-1"), incoming: false);
        await source.ExecuteAsync("cont");
        await source.WriteAsync(0x71, 458752);
        await lab.Store.OpenReadOnlyAsync(Disk, "h-2");
        await using var destination = await StartDestinationAsync(lab, lab.Store.AttachmentFor(Disk, "h-2"));
        await source.SetCapabilityAsync("pause-before-switchover");
        await source.ExecuteAsync("migrate", new JsonObject { ["uri"] = $"tcp:127.0.0.1:{_ports[destination]}" });
        Assert.Equal("pre-switchover", await source.WaitMigrationAsync("pre-switchover", "failed"));

        await lab.Store.ReopenReadWriteAsync(Disk, "h-2", 2);
        await source.ExecuteAsync("migrate-continue", new JsonObject { ["state"] = "pre-switchover" });

        Assert.Equal("completed", await source.WaitMigrationAsync("completed", "failed"));
        Assert.Equal("completed", await destination.WaitMigrationAsync("completed", "failed"));
        await destination.ExecuteAsync("cont");
        await destination.WriteAsync(0x72, 524288);
        AssertImage(lab, 458752, 0x71, "the source's write before the migration");
        AssertImage(lab, 524288, 0x72, "the destination writes");
    }

    [Fact]
    public async Task A_holder_that_writes_while_fenced_is_refused_and_stays_cut_off_even_when_its_export_comes_back()
    {
        // Why a rollback must hand the disk back before the source makes any request: QEMU 7.2's NBD client (with
        // reconnect-delay) waits for the export, gets an I/O error, and stops reconnecting for good.
        await using var lab = await NbdLab.StartAsync();
        await lab.Store.CreateAsync(Disk, "h-1");
        await using var vm = await NbdQemu.StartAsync(lab.Root, "src", lab.Store.AttachmentFor(Disk, "h-1"), incoming: false);
        await vm.ExecuteAsync("cont");
        await vm.WriteAsync(0x81, 589824);
        AssertImage(lab, 589824, 0x81, "written before the fence");

        await lab.Store.PauseAsync(Disk, "h-1");
        await vm.WriteAsync(0x82, 655360);
        AssertImage(lab, 655360, 0x00, "a write while fenced");
        await WaitForOutputAsync(vm, "write failed");

        await lab.Store.ResumeWriterAsync(Disk, "h-1", 1);
        Assert.Equal(["d-1@h-1#g1"], await lab.Store.LiveExportsAsync(Disk));
        await vm.WriteAsync(0x83, 720896);
        AssertImage(lab, 720896, 0x00, "a write after the export came back, from a client that gave up");
    }

    /// <summary>QEMU prints the failed write's error on its own thread; under load the line can come a little after the
    /// write's reply. Waits for it (15 s at most), then asserts on what QEMU said.</summary>
    private static async Task WaitForOutputAsync(NbdQemu vm, string expected)
    {
        for (var waited = 0; waited < 150 && !vm.Output.Contains(expected, StringComparison.Ordinal); waited++)
            await Task.Delay(100);
        Assert.Contains(expected, vm.Output);
    }

    private readonly Dictionary<NbdQemu, int> _ports = [];

    private async Task<NbdQemu> StartDestinationAsync(NbdLab lab, NbdAttachment disk)
    {
        var destination = await NbdQemu.StartAsync(lab.Root, "dst", disk, incoming: true);
        try
        {
            await destination.SetCapabilityAsync("late-block-activate");
            var port = NbdLab.FreePort();
            await destination.ExecuteAsync("migrate-incoming", new JsonObject { ["uri"] = $"tcp:127.0.0.1:{port}" });
            _ports[destination] = port;
            return destination;
        }
        catch
        {
            await destination.DisposeAsync();
            throw;
        }
    }

    /// <summary>The driver's order: pause before switchover, continue, wait for the source's <c>completed</c>.</summary>
    private async Task MigrateToCompletionAsync(NbdQemu source, NbdQemu destination)
    {
        await source.SetCapabilityAsync("pause-before-switchover");
        await source.ExecuteAsync("migrate", new JsonObject { ["uri"] = $"tcp:127.0.0.1:{_ports[destination]}" });
        Assert.Equal("pre-switchover", await source.WaitMigrationAsync("pre-switchover", "failed"));
        await source.ExecuteAsync("migrate-continue", new JsonObject { ["state"] = "pre-switchover" });
        Assert.Equal("completed", await source.WaitMigrationAsync("completed", "failed"));
        Assert.Equal("completed", await destination.WaitMigrationAsync("completed", "failed"));
    }

    internal static void AssertImage(NbdLab lab, long offset, byte expected, string what)
    {
        var bytes = new byte[4096];
        using (var file = new FileStream(lab.Store.ImagePath(Disk), FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            file.Position = offset;
            file.ReadExactly(bytes);
        }

        Assert.True(bytes.All(b => b == expected), $"{what}: the image at {offset} holds 0x{bytes[0]:x2}…, expected 0x{expected:x2}");
    }
}

/// <summary>An interactive <c>qemu-io</c> connected to one NBD export, fed command by command (a client that keeps its
/// connection). Killed by pid.</summary>
public sealed class QemuIo : IAsyncDisposable
{
    private readonly Process _process;

    private QemuIo(Process process) => _process = process;

    public static async Task<QemuIo> OpenAsync(string uri)
    {
        var psi = new ProcessStartInfo("qemu-io") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-f", "raw", uri])
        {
            psi.ArgumentList.Add(a);
        }

        var io = new QemuIo(Process.Start(psi)!);
        _ = io._process.StandardError.ReadToEndAsync();
        await io.ReadToPromptAsync();
        return io;
    }

    /// <summary>Runs one command and returns what it printed (read up to the next prompt; 10 s at most).</summary>
    public async Task<string> RunAsync(string command)
    {
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
        return await ReadToPromptAsync();
    }

    private async Task<string> ReadToPromptAsync()
    {
        var text = new System.Text.StringBuilder();
        var buffer = new char[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!text.ToString().EndsWith("qemu-io> ", StringComparison.Ordinal))
        {
            var n = await _process.StandardOutput.ReadAsync(buffer, timeout.Token);
            if (n == 0)
            {
                break;
            }

            text.Append(buffer, 0, n);
        }

        return text.ToString();
    }

    private bool _disposed;

    /// <summary>Kills the process; a second call does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
