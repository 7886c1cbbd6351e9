using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Hypervisor.Qmp;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

/// <summary>
/// The driver with a cloud disk over NBD (<see cref="QemuGuest.NbdDisk"/>): a qemu-storage-daemon (started here from its
/// command line, killed by pid) serves one image under two holder exports; the source VM attaches the first, the
/// destination — created from the same spec with ITS export — the second. The source's export is removed hard after the
/// source completed and before the destination resumes (the hand-over point), and the destination runs on its own.
/// </summary>
[Collection("qemu")]
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class QemuNbdDriverTests(QemuEnvironment env) : IDisposable
{
    public void Dispose() => env.EndTest();

    [Fact]
    public async Task A_vm_migrates_between_two_holder_exports_and_the_destination_runs_after_the_sources_export_is_removed()
    {
        var dir = Directory.CreateDirectory(Path.Combine(env.Root, "omn-nbd")).FullName;
        var image = Path.Combine(dir, "d-1.raw");
        await using (var f = File.Create(image))
            f.SetLength(16 << 20);
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((IPEndPoint)l.LocalEndpoint).Port;
        }

        var socket = Path.Combine(dir, "qsd.sock");
        using var daemon = Process.Start(new ProcessStartInfo("qemu-storage-daemon")
        {
            ArgumentList =
            {
                "--blockdev", $"driver=file,node-name=f1,filename={image}", "--blockdev", "driver=raw,node-name=d1,file=f1",
                "--nbd-server", $"addr.type=inet,addr.host=127.0.0.1,addr.port={port}",
                "--export", "type=nbd,id=e1,node-name=d1,name=d-1@h-1#g1,writable=on",
                "--export", "type=nbd,id=e2,node-name=d1,name=d-1@h-2#g2,writable=on",
                "--chardev", $"socket,id=m0,path={socket},server=on,wait=off", "--monitor", "chardev=m0",
            },
            UseShellExecute = false,
        })!;
        try
        {
            await Eventually.TrueAsync(() => File.Exists(socket), TimeSpan.FromSeconds(30), "qemu-storage-daemon opens its monitor socket", TimeSpan.FromMilliseconds(10));
            await using var qmp = await QmpClient.ConnectUnixAsync(socket);

            var spec = env.Spec("vm-nbd");
            QemuNbdDisk Disk(string export) => new() { Host = "127.0.0.1", Port = port, ExportName = export };
            await using var source = new QemuHypervisorDriver("src", env.Options());
            await using var destination = new QemuHypervisorDriver("dst", env.Options());
            await source.CreateVmAsync(spec with { Qemu = spec.Qemu! with { NbdDisk = Disk("d-1@h-1#g1") } });
            await source.StartVmAsync("vm-nbd");
            await destination.CreateVmAsync(spec with { Qemu = spec.Qemu! with { NbdDisk = Disk("d-1@h-2#g2") } });
            Assert.Contains("h-1", await source.PassthroughAsync("vm-nbd", """{"execute":"query-block"}"""));

            var incoming = await destination.PrepareIncomingAsync("vm-nbd", new IncomingMigrationOptions());
            var outgoing = await source.StartOutgoingAsync("vm-nbd", incoming.Endpoint, new MigrationOptions { DowntimeTargetMs = 50, LinkBandwidthBytesPerSecond = 1_000_000_000 });
            await outgoing.PreSwitchover.WaitAsync(TimeSpan.FromSeconds(60));
            await outgoing.FinalCopyAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
            await incoming.Received.WaitAsync(TimeSpan.FromSeconds(60));

            // The hand-over point: the source completed (flushed, disks inactive); the destination not yet resumed.
            await qmp.ExecuteAsync("block-export-del", new JsonObject { ["id"] = "e1", ["mode"] = "hard" });
            await Eventually.TrueAsync(async () => !(await qmp.ExecuteAsync("query-block-exports") as JsonArray)!.Any(e => e?["id"]?.GetValue<string>() == "e1"),
                TimeSpan.FromSeconds(5), "the source's export e1 is gone", TimeSpan.FromMilliseconds(5));
            await incoming.ResumeAsync(CancellationToken.None);
            await outgoing.CompleteAsync(CancellationToken.None);

            Assert.Equal(VmState.Running, (await destination.GetVmAsync("vm-nbd")).State);
            var block = await destination.PassthroughAsync("vm-nbd", """{"execute":"query-block"}""");
            Assert.Contains("h-2", block);
            Assert.DoesNotContain("h-1", block);
            var check = await destination.CheckDirtyGuestAsync("vm-nbd");
            Assert.True(check!.Value.Report.Consistent, check.Value.Report.Summary);
            var stale = await HostCommand.TryRunAsync("qemu-io", ["-f", "raw", $"nbd://127.0.0.1:{port}/d-1%40h-1%23g1", "-c", "write 0 4k"]);
            Assert.NotEqual(0, stale.ExitCode);
        }
        finally
        {
            if (!daemon.HasExited)
                daemon.Kill();
            await daemon.WaitForExitAsync();
        }
    }
}
