using System.Diagnostics;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Linux.Guest;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Tests.Shared;
using OrleansMigrate.Testing;
using Xunit.Abstractions;

namespace OrleansMigrate.Hypervisor.Tests.Linux;

[CollectionDefinition("linux-guest")]
public sealed class LinuxGuestCollection : ICollectionFixture<LinuxGuestEnvironment>;

/// <summary>
/// The Linux lab guest (guest/linux) under the QEMU driver (TCG here), reached through a tap routed in the test's
/// own namespace (proxy ARP, the gateway address on the tap, a /32 route to the guest): the UDP echo with its trailer,
/// 8 TCP streams, the disk records up to the durable seq, a restart continuing after them, and a live migration
/// between two drivers with the echo and the records checked across it.
/// </summary>
[Collection("linux-guest")]
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class LinuxGuestTests(LinuxGuestEnvironment env, ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan BootBound = TimeSpan.FromSeconds(90);

    public void Dispose() => env.KillOwned();

    [Fact]
    public async Task The_guest_echoes_with_trailers_holds_8_streams_writes_contiguous_records_and_a_restart_continues_after_them()
    {
        var disk = env.NewDataDisk("serve.img");
        ulong? durable;
        ulong firstBoot;
        {
            var tap = await env.NewTapAsync();
            await using var driver = new QemuHypervisorDriver("omg-h1", env.Options());
            await driver.CreateVmAsync(env.Spec("vm-serve", tap, disk, "serve-1.log"));
            var started = Stopwatch.StartNew();
            await driver.StartVmAsync("vm-serve");
            await env.AttachTapAsync(tap, route: true);
            var (_, trailer) = await WaitForEchoAsync("serve-1.log");
            output.WriteLine($"boot-to-echo {started.ElapsedMilliseconds} ms (TCG: {driver.Accelerator})");
            firstBoot = trailer.BootId;

            var udp = await UdpEchoProbe.RunAsync(new UdpEchoProbeOptions { Namespace = env.Namespace, Target = env.UdpTarget, RatePerSecond = 1000, Count = 3000 })
                .WaitAsync(TimeSpan.FromSeconds(60));
            output.WriteLine($"udp: {udp}");
            Assert.True(udp.Received > udp.Sent / 2, $"most datagrams are answered: {udp}");
            Assert.Equal(0, udp.Malformed);
            Assert.Equal([firstBoot], udp.BootIds);
            Assert.NotNull(udp.LastDurableSeq);

            var tcp = await TcpStreamProbe.RunAsync(new TcpStreamProbeOptions { Namespace = env.Namespace, Target = env.TcpTarget, Connections = 8, Duration = TimeSpan.FromSeconds(4), AliveWindow = TimeSpan.FromSeconds(2) })
                .WaitAsync(TimeSpan.FromSeconds(60));
            output.WriteLine($"tcp: {tcp}");
            Assert.Equal(8, tcp.Streams.Count);
            Assert.True(tcp.SurvivedCount == 8, tcp.ToString());
            Assert.All(tcp.Streams, s => Assert.True(s.Records > 10, $"stream {s.Index} got {s.Records} records"));

            var last = await UdpEchoProbe.WaitForEchoAsync(env.Namespace, env.UdpTarget, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(200));
            durable = last.Trailer.DurableSeq;
            Assert.True(durable >= udp.LastDurableSeq, "the durable seq never goes back");
            await driver.DestroyVmAsync("vm-serve");
        }

        var check = DiskRecordLog.Check(disk, durable);
        output.WriteLine($"disk after the first boot: {check}");
        Assert.True(check.Consistent, check.ToString());
        Assert.True(check.HighestSeq >= durable, check.ToString());
        Assert.All(check.Records, r => Assert.Equal(firstBoot, r.BootId));

        // A restart on the same disk continues after the last record: nothing overwritten, nothing twice.
        {
            var tap = await env.NewTapAsync();
            await using var driver = new QemuHypervisorDriver("omg-h1", env.Options());
            await driver.CreateVmAsync(env.Spec("vm-serve2", tap, disk, "serve-2.log"));
            await driver.StartVmAsync("vm-serve2");
            await env.AttachTapAsync(tap, route: true);
            var (_, trailer) = await WaitForEchoAsync("serve-2.log");
            Assert.NotEqual(firstBoot, trailer.BootId);
            var again = await Eventually.UntilAsync(() => UdpEchoProbe.WaitForEchoAsync(env.Namespace, env.UdpTarget, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(200)),
                echo => echo.Trailer.DurableSeq > check.HighestSeq, TimeSpan.FromSeconds(30), $"the restarted guest writes after seq {check.HighestSeq}", TimeSpan.FromMilliseconds(200));
            durable = again.Trailer.DurableSeq;
            await driver.DestroyVmAsync("vm-serve2");
        }

        var after = DiskRecordLog.Check(disk, durable);
        output.WriteLine($"disk after the restart: {after}");
        Assert.True(after.Consistent, after.ToString());
        var firstRun = after.Records.Where(r => r.Seq <= check.HighestSeq).ToList();
        Assert.All(firstRun, r => Assert.Equal(firstBoot, r.BootId));
        Assert.Contains(after.Records, r => r.BootId != firstBoot);
    }

    [Fact]
    public async Task A_live_migration_keeps_the_echo_the_streams_and_the_disk_records()
    {
        // Two "hosts" as two drivers in this process, each QEMU on its own tap; both taps end in the test namespace
        // (one routed gateway with the same MAC on both), and the guest's /32 route moves to the destination's tap
        // after the switchover, as the destination host's routing would take it over.
        var disk = env.NewDataDisk("mig.img");
        var sourceTap = await env.NewTapAsync();
        var destinationTap = await env.NewTapAsync();
        await using var source = new QemuHypervisorDriver("omg-h1", env.Options());
        await using var destination = new QemuHypervisorDriver("omg-h2", env.Options());
        await source.CreateVmAsync(env.Spec("vm-mig", sourceTap, disk, "mig-src.log"));
        await source.StartVmAsync("vm-mig");
        await env.AttachTapAsync(sourceTap, route: true);
        var (_, bootTrailer) = await WaitForEchoAsync("mig-src.log");

        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var udp = UdpEchoProbe.RunAsync(new UdpEchoProbeOptions { Namespace = env.Namespace, Target = env.UdpTarget, RatePerSecond = 1000, Count = 20_000, ReplyGrace = TimeSpan.FromSeconds(2) }, cancel.Token);
        // The alive window is wide: under TCG on a loaded 2-core machine a stream stalls for up to a second with no
        // fault; a reset or a seq gap is what fails a stream.
        var tcp = TcpStreamProbe.RunAsync(new TcpStreamProbeOptions { Namespace = env.Namespace, Target = env.TcpTarget, Connections = 8, Duration = TimeSpan.FromSeconds(18), AliveWindow = TimeSpan.FromSeconds(3) }, cancel.Token);
        await Task.Delay(2000); // a fixed delay on purpose: the probes see 2 s of traffic before the migration starts

        // The destination's tap goes into the namespace as soon as its QEMU holds it (it opens taps in the root namespace).
        var attach = Task.Run(async () =>
        {
            await Eventually.TrueAsync(() => destination.ProcessId("vm-mig") is not null, TimeSpan.FromSeconds(30), "the destination QEMU starts", TimeSpan.FromMilliseconds(5));
            await env.AttachTapAsync(destinationTap, route: false);
        });
        var report = await LiveMigration.RunAsync(source, destination, "vm-mig",
            new MigrationOptions { DowntimeTargetMs = 100, LinkBandwidthBytesPerSecond = 1_000_000_000 },
            new IncomingMigrationOptions { VerifyConsistency = false },
            cancel.Token,
            spec => env.Spec("vm-mig", destinationTap, disk, "mig-dst.log")).WaitAsync(TimeSpan.FromMinutes(2));
        await attach.WaitAsync(TimeSpan.FromSeconds(60));
        await env.RouteViaAsync(destinationTap);
        output.WriteLine($"migration: downtime {report.Downtime.TotalMs:0.0} ms, total {report.TotalMs:0} ms");

        var echo = await udp.WaitAsync(TimeSpan.FromMinutes(2));
        var streams = await tcp.WaitAsync(TimeSpan.FromMinutes(2));
        output.WriteLine($"udp across the migration: {echo}");
        output.WriteLine($"tcp across the migration: {streams}");
        try
        {
            Assert.Equal(VmState.Running, (await destination.GetVmAsync("vm-mig")).State);
            Assert.Equal([bootTrailer.BootId], echo.BootIds);
            Assert.Equal(0, echo.Malformed);
            Assert.Equal(0, echo.Duplicates);
            Assert.True(echo.Received > echo.Sent / 2, echo.ToString());
            // The echo answers again after the switchover, to the end of the run.
            Assert.True(echo.LastAnsweredSeq >= echo.Sent - 50, $"replies continue to the end: {echo}");
            Assert.True(streams.SurvivedCount == 8, streams.ToString());
        }
        catch
        {
            // A guest that panicked (panic=-1 reboots it) or hung says why on its console.
            output.WriteLine($"destination console:\n{env.ConsoleText("mig-dst.log")}");
            throw;
        }

        var last = await UdpEchoProbe.WaitForEchoAsync(env.Namespace, env.UdpTarget, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(200));
        Assert.Equal(bootTrailer.BootId, last.Trailer.BootId);
        await destination.DestroyVmAsync("vm-mig");
        var check = DiskRecordLog.Check(disk, last.Trailer.DurableSeq);
        output.WriteLine($"disk after the migration: {check}");
        Assert.True(check.Consistent, check.ToString());
        Assert.All(check.Records, r => Assert.Equal(bootTrailer.BootId, r.BootId));
    }

    private async Task<(TimeSpan Elapsed, GuestTrailer Trailer)> WaitForEchoAsync(string consoleLog)
    {
        try
        {
            return await UdpEchoProbe.WaitForEchoAsync(env.Namespace, env.UdpTarget, BootBound, TimeSpan.FromMilliseconds(100));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}; console:\n{env.ConsoleText(consoleLog)}", ex);
        }
    }
}
