using OrleansMigrate.Cli.Bench;
using OrleansMigrate.Hypervisor.Linux.Guest;
using OrleansMigrate.Migration;
using Xunit.Abstractions;

namespace OrleansMigrate.Cli.Tests;

/// <summary>
/// The Linux guest on the real lab, moved by a real cluster whose host silos run inside the lab's host namespaces
/// (<see cref="LabCluster"/>, what <c>omig bench lab</c> runs), in this order: a migration whose destination QEMU is killed
/// (on the freshly booted guest), one in each mode, then one whose destination host dies (h2 is gone after it). A parallel migration keeps every TCP
/// stream through the stateful firewalls and loses no disk record, as do serial and no-relay ones; one without the
/// session copy breaks the streams (the destination's
/// firewall has never seen them); a migration whose destination QEMU is killed rolls back with the guest still running
/// on the source, its streams intact and its disk still written there; so does one whose destination host dies. Needs the full lane's PostgreSQL
/// (<c>OMIG_PG_CONNSTR</c>, <c>OMIG_PG_DATADIR</c>) and Linux guest (<c>OMIG_LINUX_GUEST_DIR</c>).
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class LabClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_guest_moves_with_its_sessions_breaks_without_them_and_stays_on_the_source_when_the_destination_or_its_host_dies()
    {
        var pg = Environment.GetEnvironmentVariable("OMIG_PG_CONNSTR");
        var dataDir = Environment.GetEnvironmentVariable("OMIG_PG_DATADIR");
        Assert.False(string.IsNullOrEmpty(pg) || string.IsNullOrEmpty(dataDir), "the lab cluster needs the private PostgreSQL of tests/run.sh (OMIG_PG_CONNSTR, OMIG_PG_DATADIR)");

        // The host silos reach PostgreSQL through its unix socket (in its data directory): their namespaces have no route
        // to this machine's loopback.
        var cs = new Npgsql.NpgsqlConnectionStringBuilder(pg) { Host = dataDir };
        var guest = Environment.GetEnvironmentVariable("OMIG_LINUX_GUEST_DIR") is { Length: > 0 } g ? g : "/tmp/omig-linux-guest";
        var options = new LabBenchOptions
        {
            ConnectionString = cs.ConnectionString,
            SiloDll = SiloDll.Find(null),
            GuestDirectory = guest,
            Prefix = $"omc{Environment.ProcessId % 1000}",
            Underlay = "10.77.61.0/24",
            Transit = "10.78.61.0/24",
            Directory = Path.Combine(Path.GetTempPath(), $"omig-lab-cluster-{Environment.ProcessId}"),
            WindowSeconds = 15,
            AgentWaitTimeoutSeconds = 5,
        };
        await using var cluster = await LabCluster.StartAsync(options, output.WriteLine, CancellationToken.None);
        try
        {
            // First, on the freshly booted guest: a migration whose destination QEMU is killed rolls back. (QEMU 7.2 under
            // TCG loses guest state across migrations — see README, QEMU hosts; a guest moved four times before showed
            // it here as a stuck transmit ring, which is not what this step is about.)
            var rolledBack = await cluster.MigrateUnderTrafficAsync(OrchestrationMode.Parallel, killDestination: true);
            output.WriteLine($"destination killed: {rolledBack} {rolledBack.Details()}");
            Assert.True(rolledBack.DestinationKilled, "the destination's QEMU was never seen running to be killed");
            Assert.Equal("rolled_back", rolledBack.Phase);
            Assert.Equal("h1", cluster.At);
            Assert.Equal(options.TcpStreams, rolledBack.TcpSurvived);
            Assert.Equal(0, rolledBack.DiskRecordsLost);
            Assert.Equal(0, rolledBack.DiskRecordsDuplicated);
            AssertNoWriteAfterFence(rolledBack);

            // Still writable on the source: the guest's durable record keeps moving after the rollback, and the image holds
            // every record up to it.
            var after = await UdpEchoProbe.RunAsync(new UdpEchoProbeOptions { Namespace = cluster.Lab.ClientNamespace, Target = cluster.UdpTarget, RatePerSecond = 100, Count = 300 });
            Assert.True(after.LastDurableSeq > rolledBack.DurableRecord, $"the guest's disk stopped after the rollback (durable {after.LastDurableSeq} vs {rolledBack.DurableRecord})");
            await using (var image = new FileStream(cluster.DiskImage, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
            {
                var check = DiskRecordLog.Check(image, after.LastDurableSeq);
                Assert.True(check.Consistent, check.ToString());
            }

            var parallel = await cluster.MigrateUnderTrafficAsync(OrchestrationMode.Parallel);
            output.WriteLine($"parallel: {parallel} {parallel.Details()}");
            Assert.Equal("completed", parallel.Phase);
            Assert.Equal("h2", cluster.At);
            Assert.Equal(options.TcpStreams, parallel.TcpSurvived);
            Assert.NotNull(parallel.DurableRecord);
            Assert.Equal(0, parallel.DiskRecordsLost);
            Assert.Equal(0, parallel.DiskRecordsDuplicated);
            Assert.Equal(0, parallel.DiskCrcFailures);
            AssertNoWriteAfterFence(parallel);
            Assert.True(parallel.UdpLost < parallel.UdpSent / 4, $"the guest stopped answering: {parallel.UdpLost} of {parallel.UdpSent} echoes lost");

            // The source switched its relay itself: before the pause when the control plane paused the guest (or QEMU paused
            // it within the lead), else at QEMU's STOP. Echoes lost are reported, not asserted: they hang on timing.
            Assert.True(parallel.RelayOnAtSourceMs is not null, $"the source never switched its relay: {parallel.Details()}");
            Assert.True(parallel.PausedByControlPlane != true || parallel.RelayOnAtSourceMs < 0,
                $"the control plane paused the guest before its relay was on: {parallel.Details()}");

            // The naive design copies the sessions too (inside its downtime), and one without the relay still re-points the
            // flows right after the commit: both keep the disk whole and the guest answering.
            foreach (var (mode, to) in new[] { (OrchestrationMode.Serial, "h1"), (OrchestrationMode.NoRelay, "h2") })
            {
                var moved = await cluster.MigrateUnderTrafficAsync(mode);
                output.WriteLine($"{LabBenchmark.ModeName(mode)}: {moved} {moved.Details()}");
                Assert.Equal("completed", moved.Phase);
                Assert.Equal(to, cluster.At);
                Assert.Equal(0, moved.DiskRecordsLost);
                Assert.Equal(0, moved.DiskRecordsDuplicated);
                AssertNoWriteAfterFence(moved);
                Assert.True(moved.UdpLost < moved.UdpSent / 4, $"{mode}: the guest stopped answering: {moved.UdpLost} of {moved.UdpSent} echoes lost");
                if (mode == OrchestrationMode.Serial)
                {
                    Assert.Equal(options.TcpStreams, moved.TcpSurvived);
                }
            }

            var unsynced = await cluster.MigrateUnderTrafficAsync(OrchestrationMode.NoSessionCopy);
            output.WriteLine($"no-session-copy: {unsynced} {unsynced.Details()}");
            Assert.Equal("completed", unsynced.Phase);
            Assert.Equal("h1", cluster.At);
            Assert.True(unsynced.TcpSurvived < options.TcpStreams, $"every stream survived a move without its sessions ({unsynced.TcpSurvived}/{options.TcpStreams})");
            Assert.Equal(0, unsynced.DiskRecordsLost);
            Assert.Equal(0, unsynced.DiskRecordsDuplicated);
            AssertNoWriteAfterFence(unsynced);

            // The destination host dies (its silo and the QEMUs it started are SIGKILLed) while the migration copies: the
            // guest keeps running on the source with its streams, and its disk is written there and nowhere else. The
            // rollback waits Omig:AgentWaitTimeoutSeconds for the dead host's agent, then finishes without it (the guest
            // runs on the source, so the destination can never resume it).
            var hostDied = await cluster.MigrateUnderTrafficAsync(OrchestrationMode.Parallel, LabDestinationFault.KillHost);
            output.WriteLine($"destination host killed: {hostDied} {hostDied.Details()}");
            Assert.True(hostDied.DestinationKilled, "the destination host's silo was never killed");
            Assert.Equal("rolled_back", hostDied.Phase);
            Assert.Contains("the rollback finished without h2", hostDied.Failure);
            Assert.Equal("h1", cluster.At);
            Assert.Equal(options.TcpStreams, hostDied.TcpSurvived);
            Assert.True(hostDied.UdpLost < hostDied.UdpSent / 4, $"the guest stopped answering: {hostDied.UdpLost} of {hostDied.UdpSent} echoes lost");
            Assert.Equal(0, hostDied.DiskRecordsLost);
            Assert.Equal(0, hostDied.DiskRecordsDuplicated);
            AssertNoWriteAfterFence(hostDied);
            var disk = await cluster.CallAsync(() => cluster.Client.GetDiskAsync(LabCluster.DiskId));
            Assert.NotNull(disk);
            Assert.Equal("h1", disk.WriterHost);
            var later = await UdpEchoProbe.RunAsync(new UdpEchoProbeOptions { Namespace = cluster.Lab.ClientNamespace, Target = cluster.UdpTarget, RatePerSecond = 100, Count = 300 });
            Assert.True(later.LastDurableSeq > hostDied.DurableRecord, $"the guest's disk stopped after the destination died (durable {later.LastDurableSeq} vs {hostDied.DurableRecord})");
        }
        catch
        {
            cluster.LogSilos();
            throw;
        }
    }

    /// <summary>The block store measured every fence of the move (a completed one fenced its source at least), and no fenced
    /// holder wrote after its fence began.</summary>
    private static void AssertNoWriteAfterFence(LabRunResult run)
    {
        Assert.True(run.FencesNotChecked == 0, $"{run.FencesNotChecked} fence(s) not checked: {run.Details()}");
        Assert.True(run.Phase != "completed" || run.FencesChecked >= 1, $"a completed move with no fence measured: {run.Details()}");
        Assert.True(run.SectorsWrittenAfterFence == 0, $"{run.SectorsWrittenAfterFence} sectors written after a fence: {run.Details()}");
    }
}
