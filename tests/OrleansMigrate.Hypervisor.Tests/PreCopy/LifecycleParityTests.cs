using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;
using OrleansMigrate.Hypervisor.Tests.Simulated;
using OrleansMigrate.Hypervisor.Tests.Support;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.PreCopy;

/// <summary>
/// One set of lifecycle scenarios run against both the real pre-copy engine (<see cref="EngineLifecycleTests"/>: simulated
/// guests over loopback TCP) and its analytic model (<see cref="AnalyticLifecycleTests"/>: modelled memory and time). The
/// same requests must give the same phases, verdicts, failure kinds and VM states on both, on the source and on the
/// destination, so the scale benchmarks that run on the model cannot drift from the engine.
/// </summary>
public abstract class LifecycleParityTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>What the orchestrator does about a stalled pre-copy (the policy's <c>StallAction</c>).</summary>
    public enum StallResponse
    {
        /// <summary>Raise the downtime target until the guest fits it.</summary>
        Escalate,

        /// <summary>Roll the migration back.</summary>
        Abort,
    }

    /// <summary>A new driver standing for one host.</summary>
    protected abstract IHypervisorDriver NewDriver(string hostName);

    /// <summary>A guest whose pre-copy converges to the default 20 ms target on <see cref="Link"/>.</summary>
    protected abstract VmSpec ConvergingGuest(string vmId);

    /// <summary>A guest that dirties memory faster than <see cref="Link"/> carries: every round's estimate stays above 20 ms.</summary>
    protected abstract VmSpec StallingGuest(string vmId);

    /// <summary>The link in bytes/s the guests above are sized for.</summary>
    protected abstract long Link { get; }

    /// <summary>A downtime target the stalling guest fits, in ms.</summary>
    protected abstract double EscalatedTargetMs { get; }

    /// <summary>Options on <see cref="Link"/> with no limit in reach unless a test sets one.</summary>
    private MigrationOptions Options => new() { LinkBandwidthBytesPerSecond = Link, MaxRounds = 100_000, MaxPreCopyMs = 600_000 };

    [Fact]
    public async Task A_converging_guest_pauses_after_the_stage_proceeds_copies_and_commits_with_the_VM_running_only_on_the_destination()
    {
        await using var rig = await Rig.StartAsync(this, ConvergingGuest("parity-ok"), Options);

        var paused = await rig.Outgoing.PreSwitchover.WaitAsync(Patience);
        Assert.Equal(SwitchoverReason.Converged, paused.Reason);
        Assert.Equal(OutgoingMigrationState.PreSwitchover, rig.Outgoing.State);
        Assert.Equal(VmState.Paused, await rig.SourceStateAsync());
        Assert.Equal(IncomingMigrationState.Receiving, rig.Incoming.State);
        var rounds = rig.Outgoing.GetRounds();
        Assert.Equal(RoundStage.PreCopy, rounds[0].Stage);
        Assert.Contains(rounds, r => r.Stage == RoundStage.PreLastCopy);
        Assert.Equal(paused.Rounds, rounds.Count);
        Assert.Equal(PreLastCopyVerdict.Proceed, rig.Outgoing.GetPreLastCopyDecisions()[^1].Verdict);
        await Assert.ThrowsAsync<InvalidOperationException>(() => rig.Outgoing.CompleteAsync());
        await Assert.ThrowsAsync<InvalidOperationException>(() => rig.Incoming.ResumeAsync());

        await rig.Outgoing.FinalCopyAsync().WaitAsync(Patience);
        Assert.Equal(OutgoingMigrationState.AwaitingCommit, rig.Outgoing.State);
        var received = await rig.Incoming.Received.WaitAsync(Patience);
        Assert.Equal(IncomingMigrationState.ReadyToResume, rig.Incoming.State);
        Assert.Equal(rig.Outgoing.GetStatistics().PagesSent, received.PagesApplied);
        Assert.Equal(VmState.Paused, await rig.SourceStateAsync());

        await rig.Incoming.ResumeAsync();
        Assert.Equal(IncomingMigrationState.Resumed, rig.Incoming.State);
        await Assert.ThrowsAsync<InvalidOperationException>(() => rig.Incoming.ResumeAsync());
        await rig.Outgoing.CompleteAsync().WaitAsync(Patience);
        Assert.Equal(OutgoingMigrationState.Completed, rig.Outgoing.State);
        await rig.Outgoing.CompleteAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(() => rig.Outgoing.CancelAsync("too late"));
        await rig.Incoming.AbortAsync("too late");
        Assert.Equal(IncomingMigrationState.Resumed, rig.Incoming.State);
        await rig.Incoming.Consistency.WaitAsync(Patience);

        Assert.Equal(VmState.PostMigrate, await rig.SourceStateAsync());
        Assert.Equal(VmState.Running, await rig.DestinationStateAsync());
        Assert.False((await rig.Source.GetVmAsync(rig.VmId)).HasActiveMigration);
        Assert.False((await rig.Destination.GetVmAsync(rig.VmId)).HasActiveMigration);
    }

    [Theory]
    [InlineData(StallResponse.Escalate)]
    [InlineData(StallResponse.Abort)]
    public async Task A_stalled_guest_converges_once_the_target_is_escalated_or_rolls_back_on_abort(StallResponse response)
    {
        await using var rig = await Rig.StartAsync(this, StallingGuest("parity-stall"), Options);
        await Eventually.TrueAsync(() => rig.Outgoing.GetProgress().Round >= 3, Patience, "pre-copy iterates");
        Assert.Equal(OutgoingMigrationState.PreCopy, rig.Outgoing.State);
        Assert.All(rig.Outgoing.GetRounds(), r => Assert.True(r.EstimatedDowntimeMs > rig.Outgoing.DowntimeTargetMs, $"round {r.Number} estimate {r.EstimatedDowntimeMs} ms"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => rig.Outgoing.FinalCopyAsync());
        await Assert.ThrowsAsync<InvalidOperationException>(() => rig.Outgoing.CompleteAsync());
        Assert.Equal(VmState.Running, await rig.SourceStateAsync());

        if (response == StallResponse.Escalate)
        {
            rig.Outgoing.SetDowntimeTarget(EscalatedTargetMs);
            var paused = await rig.Outgoing.PreSwitchover.WaitAsync(Patience);
            Assert.Equal(SwitchoverReason.Converged, paused.Reason);
            Assert.Equal(EscalatedTargetMs, rig.Outgoing.DowntimeTargetMs);
            Assert.True(paused.EstimatedDowntimeMs <= EscalatedTargetMs);
            Assert.Equal(PreLastCopyVerdict.Proceed, rig.Outgoing.GetPreLastCopyDecisions()[^1].Verdict);
            Assert.Equal(VmState.Paused, await rig.SourceStateAsync());
            await rig.Outgoing.CancelAsync("test done");
        }
        else
        {
            await rig.Outgoing.CancelAsync("stalled: policy says abort");
        }

        Assert.Equal(OutgoingMigrationState.Cancelled, rig.Outgoing.State);
        var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => response == StallResponse.Abort ? rig.Outgoing.PreSwitchover : rig.Outgoing.FinalCopyAsync());
        Assert.Equal(MigrationFailureKind.Cancelled, failure.Kind);
        await rig.AssertRolledBackAsync(MigrationFailureKind.SourceAborted);
    }

    [Theory]
    [InlineData(PreCopyLimitAction.Fail)]
    [InlineData(PreCopyLimitAction.ForceSwitchover)]
    public async Task At_the_round_limit_a_stalled_guest_fails_or_switches_over_after_the_stage_gives_up(PreCopyLimitAction action)
    {
        var options = Options with
        {
            MaxRounds = 3,
            LimitAction = action,
            PreLastCopy = new PreLastCopyOptions { ObservationWindowMs = 30, MaxWaitMs = 200 },
        };
        await using var rig = await Rig.StartAsync(this, StallingGuest("parity-limit"), options);

        if (action == PreCopyLimitAction.Fail)
        {
            var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => rig.Outgoing.PreSwitchover.WaitAsync(Patience));
            Assert.Equal(MigrationFailureKind.DidNotConverge, failure.Kind);
            Assert.Contains("pre-copy aborted at its round limit (3 rounds", failure.Message);
            Assert.Equal(OutgoingMigrationState.Failed, rig.Outgoing.State);
            Assert.Equal(3, rig.Outgoing.GetRounds().Count);
            Assert.Empty(rig.Outgoing.GetPreLastCopyDecisions());
            await rig.AssertRolledBackAsync(MigrationFailureKind.Transport);
            return;
        }

        var paused = await rig.Outgoing.PreSwitchover.WaitAsync(Patience);
        Assert.Equal(SwitchoverReason.RoundLimit, paused.Reason);
        var rounds = rig.Outgoing.GetRounds();
        Assert.Equal(3, rounds.Count(r => r.Stage == RoundStage.PreCopy));
        Assert.Contains(rounds, r => r.Stage == RoundStage.PreLastCopy);
        var decisions = rig.Outgoing.GetPreLastCopyDecisions();
        Assert.Equal(PreLastCopyVerdict.GiveUp, decisions[^1].Verdict);
        Assert.StartsWith("max wait 200 ms reached", decisions[^1].Reason, StringComparison.Ordinal);
        Assert.All(decisions.SkipLast(1), d => Assert.Equal(PreLastCopyVerdict.Wait, d.Verdict));
        Assert.Equal(VmState.Paused, await rig.SourceStateAsync());

        await rig.Outgoing.CancelAsync("cancelled at the pause");
        Assert.Equal(OutgoingMigrationState.Cancelled, rig.Outgoing.State);
        var late = await Assert.ThrowsAsync<MigrationFailedException>(() => rig.Outgoing.FinalCopyAsync());
        Assert.Equal(MigrationFailureKind.Cancelled, late.Kind);
        await rig.AssertRolledBackAsync(MigrationFailureKind.SourceAborted);
    }

    [Fact]
    public async Task A_switchover_that_skips_the_stage_pauses_at_once_and_a_cancel_after_the_final_copy_rolls_back_both_sides()
    {
        await using var rig = await Rig.StartAsync(this, StallingGuest("parity-skip"), Options);
        await Eventually.TrueAsync(() => rig.Outgoing.GetProgress().Round >= 2, Patience, "pre-copy iterates");

        rig.Outgoing.RequestSwitchover(skipPreLastCopy: true);
        var paused = await rig.Outgoing.PreSwitchover.WaitAsync(Patience);
        Assert.Equal(SwitchoverReason.Requested, paused.Reason);
        Assert.All(rig.Outgoing.GetRounds(), r => Assert.Equal(RoundStage.PreCopy, r.Stage));
        var decision = Assert.Single(rig.Outgoing.GetPreLastCopyDecisions());
        Assert.Equal(PreLastCopyVerdict.Skipped, decision.Verdict);
        Assert.Equal("switchover requested with the stage skipped", decision.Reason);

        await rig.Outgoing.FinalCopyAsync().WaitAsync(Patience);
        await rig.Incoming.Received.WaitAsync(Patience);
        Assert.Equal(OutgoingMigrationState.AwaitingCommit, rig.Outgoing.State);
        Assert.Equal(IncomingMigrationState.ReadyToResume, rig.Incoming.State);

        await rig.Outgoing.CancelAsync("orchestrator rolled back inside the downtime");

        Assert.Equal(OutgoingMigrationState.Cancelled, rig.Outgoing.State);
        Assert.Equal(VmState.Running, await rig.SourceStateAsync());
        await Eventually.TrueAsync(() => rig.Incoming.State == IncomingMigrationState.Failed, Patience, "the destination tears down on the source's abort");
        var refused = await Assert.ThrowsAsync<MigrationFailedException>(() => rig.Incoming.ResumeAsync());
        Assert.Equal(MigrationFailureKind.SourceAborted, refused.Kind);
        // The destination VM's state follows its incoming side's a moment later (a fast lane read "incoming" once).
        await Eventually.TrueAsync(async () => await rig.DestinationStateAsync() == VmState.Failed, Patience, "the destination VM is failed", TimeSpan.FromMilliseconds(10));
        await Assert.ThrowsAsync<InvalidOperationException>(() => rig.Outgoing.CompleteAsync());
    }

    [Fact]
    public async Task A_destination_abort_during_pre_copy_fails_the_source_which_keeps_running()
    {
        await using var rig = await Rig.StartAsync(this, StallingGuest("parity-dst"), Options);
        await Eventually.TrueAsync(() => rig.Outgoing.GetProgress().Round >= 2, Patience, "pre-copy iterates");

        await rig.Incoming.AbortAsync("destination host lost");

        Assert.Equal(IncomingMigrationState.Failed, rig.Incoming.State);
        var aborted = await Assert.ThrowsAsync<MigrationFailedException>(() => rig.Incoming.Received.WaitAsync(Patience));
        Assert.Equal(MigrationFailureKind.Cancelled, aborted.Kind);
        Assert.Null(await rig.Incoming.Consistency.WaitAsync(Patience));
        var failed = await Assert.ThrowsAsync<MigrationFailedException>(() => rig.Outgoing.PreSwitchover.WaitAsync(Patience));
        Assert.Equal(MigrationFailureKind.DestinationFailed, failed.Kind);
        await Eventually.TrueAsync(() => rig.Outgoing.State == OutgoingMigrationState.Failed, Patience, "the source's migration fails");
        await Eventually.TrueAsync(() => rig.Source.GetVmAsync(rig.VmId).Result.State == VmState.Running, Patience, "the source VM runs");
        Assert.Equal(VmState.Failed, await rig.DestinationStateAsync());
    }

    [Fact]
    public async Task An_incoming_migration_no_source_connects_to_times_out_and_tears_its_VM_down()
    {
        await using var destination = NewDriver("parity-dst");
        var spec = ConvergingGuest("parity-accept");
        await destination.CreateVmAsync(spec);
        var incoming = await destination.PrepareIncomingAsync(spec.VmId, new IncomingMigrationOptions { AcceptTimeoutMs = 50 });
        Assert.Equal(IncomingMigrationState.Listening, incoming.State);

        var failed = await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.Received.WaitAsync(Patience));
        Assert.Equal(MigrationFailureKind.Timeout, failed.Kind);
        await Eventually.TrueAsync(() => incoming.State == IncomingMigrationState.Failed, Patience, "the incoming migration fails");
        await Eventually.TrueAsync(() => destination.GetVmAsync(spec.VmId).Result.State == VmState.Failed, Patience, "the destination VM fails");
        var refused = await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.ResumeAsync());
        Assert.Equal(MigrationFailureKind.Timeout, refused.Kind);
    }

    /// <summary>A source and a destination host, a booted guest and a migration started between them; disposing ends it all.</summary>
    private sealed class Rig : IAsyncDisposable
    {
        private Rig(IHypervisorDriver source, IHypervisorDriver destination, string vmId)
        {
            Source = source;
            Destination = destination;
            VmId = vmId;
        }

        public IHypervisorDriver Source { get; }

        public IHypervisorDriver Destination { get; }

        public string VmId { get; }

        public IIncomingMigration Incoming { get; private set; } = null!;

        public IOutgoingMigration Outgoing { get; private set; } = null!;

        public static async Task<Rig> StartAsync(LifecycleParityTests test, VmSpec spec, MigrationOptions options)
        {
            var rig = new Rig(test.NewDriver("parity-src"), test.NewDriver("parity-dst"), spec.VmId);
            try
            {
                await rig.Source.CreateVmAsync(spec);
                await rig.Source.StartVmAsync(spec.VmId);
                await rig.Destination.CreateVmAsync(spec);
                rig.Incoming = await rig.Destination.PrepareIncomingAsync(spec.VmId, new IncomingMigrationOptions { VerifyConsistency = true });
                rig.Outgoing = await rig.Source.StartOutgoingAsync(spec.VmId, rig.Incoming.Endpoint, options);
                return rig;
            }
            catch
            {
                await rig.DisposeAsync();
                throw;
            }
        }

        public async Task<VmState> SourceStateAsync() => (await Source.GetVmAsync(VmId)).State;

        public async Task<VmState> DestinationStateAsync() => (await Destination.GetVmAsync(VmId)).State;

        /// <summary>The source VM runs with no migration; the destination failed with <paramref name="kind"/> and tore its VM down.</summary>
        public async Task AssertRolledBackAsync(MigrationFailureKind kind)
        {
            await Eventually.TrueAsync(() => Source.GetVmAsync(VmId).Result.State == VmState.Running, Patience, "the source VM runs");
            Assert.False((await Source.GetVmAsync(VmId)).HasActiveMigration);
            var failed = await Assert.ThrowsAsync<MigrationFailedException>(() => Incoming.Received.WaitAsync(Patience));
            Assert.Equal(kind, failed.Kind);
            await Eventually.TrueAsync(() => Incoming.State == IncomingMigrationState.Failed, Patience, "the destination's migration fails");
            Assert.Equal(VmState.Failed, await DestinationStateAsync());
            Assert.Null(await Incoming.Consistency.WaitAsync(Patience));
        }

        public async ValueTask DisposeAsync()
        {
            await Source.DisposeAsync();
            await Destination.DisposeAsync();
        }
    }
}

/// <summary>The lifecycle scenarios on the real engine: simulated guests (real memory, real dirtying) over loopback TCP.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class EngineLifecycleTests : LifecycleParityTests
{
    protected override long Link => 40_000_000;

    protected override double EscalatedTargetMs => 5_000;

    protected override IHypervisorDriver NewDriver(string hostName) => new SimulatedHypervisorDriver(hostName);

    // 16 MiB at 2 MB/s over 40 MB/s: the bulk round takes ~0.4 s and leaves ~0.8 MB, ~20 ms, then a few ms.
    protected override VmSpec ConvergingGuest(string vmId) => Guests.Spec(vmId, 16, dirtyMBps: 2);

    // 100 MB/s into an 8 MiB hot set over 40 MB/s: every round leaves the hot set, ~210 ms against a 20 ms target.
    protected override VmSpec StallingGuest(string vmId) =>
        Guests.Spec(vmId, 16, workload: new GuestWorkloadOptions { DirtyMegabytesPerSecond = 100, Pattern = DirtyPattern.HotSet, HotSetMiB = 8 });
}

/// <summary>The same scenarios on the analytic model (modelled memory, time accelerated 100×).</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class AnalyticLifecycleTests : LifecycleParityTests
{
    protected override long Link => 125_000_000;

    protected override double EscalatedTargetMs => 5_000;

    protected override IHypervisorDriver NewDriver(string hostName) => new AnalyticHypervisorDriver(hostName, timeAcceleration: 100);

    // 256 MiB at 20 MB/s over 125 MB/s: rounds of 2.1 s, 0.34 s, 55 ms modelled, then under the target.
    protected override VmSpec ConvergingGuest(string vmId) => AnalyticHosts.Spec(vmId, 256, dirtyMBps: 20);

    // 200 MB/s over 125 MB/s: every round resends all 64 MiB, ~537 ms modelled each, far above a 20 ms target.
    protected override VmSpec StallingGuest(string vmId) => AnalyticHosts.Spec(vmId, 64, dirtyMBps: 200);
}
