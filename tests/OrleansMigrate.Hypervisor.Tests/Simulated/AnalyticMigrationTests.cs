using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.Simulated;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class AnalyticMigrationTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_live_migration_between_two_analytic_drivers_completes_and_the_VM_runs_only_on_the_destination()
    {
        await using var hosts = new AnalyticHosts();
        var spec = AnalyticHosts.Spec("an-live", 8192, dirtyMBps: 100);
        var source = await hosts.BootAsync(spec);

        var report = await LiveMigration.RunAsync(hosts.Source, hosts.Destination, spec.VmId, new MigrationOptions()).WaitAsync(Limit);

        Assert.Equal(VmState.PostMigrate, source.State);
        Assert.Equal(VmState.Running, hosts.Destination.GetAnalyticVm(spec.VmId).State);
        Assert.Equal(SwitchoverReason.Converged, report.SwitchoverReason);
        Assert.Null(report.Consistency); // a modelled guest has no memory to read: not checked, never "consistent"
        Assert.Equal(report.Source.PagesSent, report.Destination.PagesApplied);
        Assert.True(report.Source.PagesSent >= 8192L * 256, "round 1 carries all memory");

        // Modelled, not wall: an 8 GiB bulk round over 10 Gb/s is ~6.9 s of modelled time (7 ms of wall time at 1000x).
        Assert.True(report.Rounds[0].DurationMs > 6_000, $"bulk round {report.Rounds[0].DurationMs} ms");
        Assert.True(report.PreCopyMs > 6_000, $"pre-copy {report.PreCopyMs} ms");
        Assert.True(report.TotalMs < report.PreCopyMs, $"wall {report.TotalMs} ms should be far below modelled {report.PreCopyMs} ms");
        var modelledFinalMs = report.Downtime.FinalWireBytes / (double)MigrationOptions.DefaultLinkBandwidthBytesPerSecond * 1000;
        Assert.InRange(report.Downtime.FinalPagesMs + report.Downtime.DeviceStateMs, modelledFinalMs - 0.01, modelledFinalMs + 0.01);
        Assert.True(report.Downtime.TotalMs >= modelledFinalMs);
        Assert.Equal(0, AnalyticEndpoints.Count);
    }

    [Fact]
    public async Task Modelled_rounds_and_bytes_match_a_hand_calculation()
    {
        await using var hosts = new AnalyticHosts();
        // 64 MiB = 16384 pages, 10 MB/s dirtied over the whole memory, 1 Gb/s, 32 KiB device state, 20 ms target.
        var spec = AnalyticHosts.Spec("an-hand", 64, dirtyMBps: 10);
        await hosts.BootAsync(spec);
        var options = new MigrationOptions { LinkBandwidthBytesPerSecond = 125_000_000, PreLastCopy = new PreLastCopyOptions { Enabled = false } };

        var report = await LiveMigration.RunAsync(hosts.Source, hosts.Destination, spec.VmId, options).WaitAsync(Limit);

        // Round 1: 16384 pages = 67,108,864 B / 125e6 B/s = 536.870912 ms; dirtied ceil(10e6 * 0.536870912 / 4096) = 1311 pages.
        // Estimate: (1311 * 4096 + 32768) / 125e6 = 43.220992 ms + 0.5 ms overhead > 20 ms: another round.
        // Round 2: 1311 pages = 5,369,856 B = 42.958848 ms; dirtied ceil(10e6 * 0.042958848 / 4096) = 105 pages.
        // Estimate: (105 * 4096 + 32768) / 125e6 = 3.702784 ms + 0.5 = 4.202784 ms <= 20 ms: converged.
        // Final copy: 105 pages + 32 KiB device state = 462,848 B = 3.702784 ms.
        Assert.Equal(SwitchoverReason.Converged, report.SwitchoverReason);
        Assert.Collection(report.Rounds,
            r =>
            {
                Assert.Equal((1, 16384L, 67_108_864L, 1311L), (r.Number, r.Pages, r.WireBytes, r.DirtiedPages));
                Assert.Equal(536.870912, r.DurationMs, 6);
                Assert.Equal(43.720992, r.EstimatedDowntimeMs, 6);
            },
            r =>
            {
                Assert.Equal((2, 1311L, 5_369_856L, 105L), (r.Number, r.Pages, r.WireBytes, r.DirtiedPages));
                Assert.Equal(42.958848, r.DurationMs, 6);
                Assert.Equal(4.202784, r.EstimatedDowntimeMs, 6);
            });
        Assert.Equal(105, report.Downtime.FinalPages);
        Assert.Equal(462_848, report.Downtime.FinalWireBytes);
        Assert.Equal(16384 + 1311 + 105, report.Source.PagesSent);
        Assert.Equal(67_108_864 + 5_369_856 + 462_848, report.Source.BytesSent);
        Assert.Equal(3.702784, report.Downtime.FinalPagesMs + report.Downtime.DeviceStateMs, 3);
        Assert.InRange(report.PreCopyMs, 579.82976, 590); // plus the few µs of wall time between rounds
        Assert.Equal(PreLastCopyVerdict.Skipped, Assert.Single(report.PreLastCopyDecisions).Verdict);
    }

    [Fact]
    public async Task A_guest_that_outdirties_the_link_stalls_until_a_forced_switchover()
    {
        await using var hosts = new AnalyticHosts();
        // 200 MB/s over a 125 MB/s link: every round resends all 64 MiB.
        var spec = AnalyticHosts.Spec("an-stall", 64, dirtyMBps: 200);
        var source = await hosts.BootAsync(spec);
        var options = new MigrationOptions { LinkBandwidthBytesPerSecond = 125_000_000, MaxRounds = 100_000, MaxPreCopyMs = 86_400_000 };
        var (incoming, outgoing) = await hosts.StartAsync(spec, options);

        var stalled = await Eventually.UntilAsync(() => Task.FromResult(outgoing.GetProgress()), p => p.Round > 10, Limit, "pre-copy passes round 10");
        Assert.False(outgoing.PreSwitchover.IsCompleted);
        Assert.Equal(OutgoingMigrationState.PreCopy, stalled.State);
        Assert.True(stalled.BytesRemaining >= 60L << 20, $"remaining {stalled.BytesRemaining}");
        Assert.Equal(VmState.Running, source.State);

        outgoing.RequestSwitchover(skipPreLastCopy: true);
        var paused = await outgoing.PreSwitchover.WaitAsync(Limit);
        Assert.Equal(SwitchoverReason.Requested, paused.Reason);
        Assert.Equal(16384, paused.PendingPages);
        Assert.True(paused.Rounds >= stalled.Round);
        Assert.Equal(VmState.Paused, source.State);

        var rounds = outgoing.GetRounds();
        Assert.Equal(paused.Rounds, rounds.Count);
        Assert.Equal(Enumerable.Range(1, rounds.Count), rounds.Select(r => r.Number));
        Assert.All(rounds, r => Assert.Equal(16384, r.Pages));

        var final = await outgoing.FinalCopyAsync();
        await incoming.Received.WaitAsync(Limit);
        await incoming.ResumeAsync();
        await outgoing.CompleteAsync();
        Assert.Equal(16384, final.Pages);
        Assert.Equal(VmState.PostMigrate, source.State);
        Assert.Equal(VmState.Running, hosts.Destination.GetAnalyticVm(spec.VmId).State);
        Assert.Null(await incoming.Consistency);
    }

    [Fact]
    public async Task A_stalled_guest_hits_the_round_limit_like_the_real_engine()
    {
        await using var hosts = new AnalyticHosts();
        var spec = AnalyticHosts.Spec("an-limit", 64, dirtyMBps: 200);
        await hosts.BootAsync(spec);
        var options = new MigrationOptions { LinkBandwidthBytesPerSecond = 125_000_000, MaxRounds = 12 };

        var report = await LiveMigration.RunAsync(hosts.Source, hosts.Destination, spec.VmId, options).WaitAsync(Limit);

        Assert.Equal(SwitchoverReason.RoundLimit, report.SwitchoverReason);
        Assert.Equal(12, report.Rounds.Count(r => r.Stage == RoundStage.PreCopy));
        Assert.Equal(PreLastCopyVerdict.GiveUp, report.PreLastCopyDecisions[^1].Verdict);
    }

    [Fact]
    public async Task A_raised_downtime_target_lets_a_stalled_guest_converge()
    {
        await using var hosts = new AnalyticHosts();
        // A 16 MiB hot set at 1 Gb/s: ~134 ms per round, never under 20 ms.
        var spec = AnalyticHosts.Spec("an-escalate", 1024, dirtyMBps: 500, hotSetMiB: 16);
        await hosts.BootAsync(spec);
        var options = new MigrationOptions { LinkBandwidthBytesPerSecond = 125_000_000, MaxRounds = 100_000, MaxPreCopyMs = 86_400_000 };
        var (_, outgoing) = await hosts.StartAsync(spec, options);

        await Eventually.TrueAsync(() => outgoing.GetProgress().Round >= 3, Limit, "pre-copy reaches round 3");
        Assert.False(outgoing.PreSwitchover.IsCompleted);
        outgoing.SetDowntimeTarget(500);

        var paused = await outgoing.PreSwitchover.WaitAsync(Limit);
        Assert.Equal(SwitchoverReason.Converged, paused.Reason);
        Assert.Equal(4096, paused.PendingPages);
    }

    [Fact]
    public async Task Cancel_during_pre_copy_keeps_the_source_running_and_tears_the_destination_down()
    {
        await using var hosts = new AnalyticHosts(acceleration: 10);
        var spec = AnalyticHosts.Spec("an-cancel", 4096, dirtyMBps: 50);
        var source = await hosts.BootAsync(spec);
        var (incoming, outgoing) = await hosts.StartAsync(spec, new MigrationOptions { LinkBandwidthBytesPerSecond = 125_000_000 });

        var progress = await Eventually.UntilAsync(() => Task.FromResult(outgoing.GetProgress()), p => p.BytesSent > 0, Limit, "pre-copy sends its first bytes");
        Assert.Equal(1, progress.Round);
        Assert.InRange(progress.BytesSent, 1, (4096L << 20) - 1);
        await outgoing.CancelAsync("test");

        Assert.Equal(OutgoingMigrationState.Cancelled, outgoing.State);
        Assert.Equal(VmState.Running, source.State);
        var failed = await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.PreSwitchover);
        Assert.Equal(MigrationFailureKind.Cancelled, failed.Kind);
        var aborted = await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.Received);
        Assert.Equal(MigrationFailureKind.SourceAborted, aborted.Kind);
        Assert.Equal(VmState.Failed, hosts.Destination.GetAnalyticVm(spec.VmId).State);
        Assert.False((await hosts.Source.GetVmAsync(spec.VmId)).HasActiveMigration);
    }

    [Fact]
    public async Task Cancel_after_the_final_copy_resumes_the_paused_source()
    {
        await using var hosts = new AnalyticHosts();
        var spec = AnalyticHosts.Spec("an-cancel-late", 256, dirtyMBps: 20);
        var source = await hosts.BootAsync(spec);
        var (incoming, outgoing) = await hosts.StartAsync(spec, new MigrationOptions());

        await outgoing.PreSwitchover.WaitAsync(Limit);
        Assert.Equal(VmState.Paused, source.State);
        await Assert.ThrowsAsync<InvalidOperationException>(() => hosts.Source.ResumeVmAsync(spec.VmId));
        await outgoing.FinalCopyAsync();
        await incoming.Received.WaitAsync(Limit);
        Assert.Equal(OutgoingMigrationState.AwaitingCommit, outgoing.State);

        await outgoing.CancelAsync("orchestrator rolled back");

        Assert.Equal(VmState.Running, source.State);
        Assert.Equal(IncomingMigrationState.Failed, incoming.State);
        // As the engine's destination: a failed side says why it cannot resume.
        var refused = await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.ResumeAsync());
        Assert.Equal(MigrationFailureKind.SourceAborted, refused.Kind);
        await Assert.ThrowsAsync<InvalidOperationException>(() => outgoing.CompleteAsync());
    }

    [Fact]
    public async Task A_destination_abort_during_pre_copy_rolls_the_source_back()
    {
        await using var hosts = new AnalyticHosts(acceleration: 10);
        var spec = AnalyticHosts.Spec("an-dst-abort", 4096);
        var source = await hosts.BootAsync(spec);
        var (incoming, outgoing) = await hosts.StartAsync(spec, new MigrationOptions { LinkBandwidthBytesPerSecond = 125_000_000 });

        await Eventually.TrueAsync(() => outgoing.GetProgress().BytesSent > 0, Limit, "pre-copy sends its first bytes");
        await incoming.AbortAsync("destination host lost");

        var failed = await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.PreSwitchover.WaitAsync(Limit));
        Assert.Equal(MigrationFailureKind.DestinationFailed, failed.Kind);
        await Eventually.TrueAsync(() => outgoing.State == OutgoingMigrationState.Failed, Limit, "the outgoing migration fails");
        Assert.Equal(VmState.Running, source.State);
    }

    [Fact]
    public async Task Destroying_the_source_VM_mid_migration_cancels_it_and_the_destination_tears_down()
    {
        await using var hosts = new AnalyticHosts(acceleration: 10);
        var spec = AnalyticHosts.Spec("an-destroy", 4096);
        await hosts.BootAsync(spec);
        var (incoming, outgoing) = await hosts.StartAsync(spec, new MigrationOptions { LinkBandwidthBytesPerSecond = 125_000_000 });

        await hosts.Source.DestroyVmAsync(spec.VmId);

        Assert.Equal(OutgoingMigrationState.Cancelled, outgoing.State);
        Assert.Equal(IncomingMigrationState.Failed, incoming.State);
        await Assert.ThrowsAsync<VmNotFoundException>(() => hosts.Source.GetVmAsync(spec.VmId));
    }

    [Fact]
    public async Task An_endpoint_nobody_listens_on_or_of_another_VM_is_refused()
    {
        await using var hosts = new AnalyticHosts();
        var spec = AnalyticHosts.Spec("an-refused", 64);
        await hosts.BootAsync(spec);

        var none = await Assert.ThrowsAsync<MigrationFailedException>(() => hosts.Source.StartOutgoingAsync(spec.VmId, new MigrationEndpoint("analytic", 65_535), new MigrationOptions()));
        Assert.Equal(MigrationFailureKind.Transport, none.Kind);

        var other = AnalyticHosts.Spec("an-other", 64);
        await hosts.Destination.CreateVmAsync(other);
        var incoming = await hosts.Destination.PrepareIncomingAsync(other.VmId, new IncomingMigrationOptions());
        var refused = await Assert.ThrowsAsync<MigrationFailedException>(() => hosts.Source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, new MigrationOptions()));
        Assert.Equal(MigrationFailureKind.Rejected, refused.Kind);
        Assert.Equal(IncomingMigrationState.Failed, incoming.State);
        Assert.Equal(VmState.Running, (await hosts.Source.GetVmAsync(spec.VmId)).State);
    }

    [Fact]
    public async Task An_incoming_migration_no_source_connects_to_times_out()
    {
        await using var hosts = new AnalyticHosts();
        var spec = AnalyticHosts.Spec("an-accept", 64);
        await hosts.Destination.CreateVmAsync(spec);
        var incoming = await hosts.Destination.PrepareIncomingAsync(spec.VmId, new IncomingMigrationOptions { AcceptTimeoutMs = 50 });

        var failed = await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.Received.WaitAsync(Limit));
        Assert.Equal(MigrationFailureKind.Timeout, failed.Kind);
        Assert.Equal(VmState.Failed, hosts.Destination.GetAnalyticVm(spec.VmId).State);
    }
}
