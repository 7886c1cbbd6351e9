using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Tests.Shared;
using static OrleansMigrate.Hypervisor.Tests.Qemu.QemuTestGuest;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

/// <summary>The switchover the control plane makes on QEMU (<see cref="IOutgoingMigration.TryRunBeforePause"/>): QEMU's own
/// check held at 1 ms, the caller's work with the guest still running, the lead, then <c>stop</c> — and the work undone before
/// the source guest runs again when the migration fails.</summary>
[Collection("qemu")]
[Trait(TestCategory.Trait, TestCategory.Qemu)]
public sealed class QemuControlPlaneSwitchoverTests(QemuEnvironment env) : IDisposable
{
    private static readonly TimeSpan Lead = TimeSpan.FromMilliseconds(30);

    public void Dispose() => env.EndTest();

    [Fact]
    public async Task The_control_plane_holds_QEMU_then_runs_its_work_with_the_guest_running_and_pauses_it_itself()
    {
        const string Id = "vm-cpsw";
        await using var source = new QemuHypervisorDriver("cpsw-src", env.Options());
        await using var destination = new QemuHypervisorDriver("cpsw-dst", env.Options());

        // A target no pre-copy meets (0.1 ms at 20 MB/s): QEMU must not switch over by itself, held at 1 ms either.
        var (incoming, outgoing) = await StartHeldAsync(source, destination, Id, NonConverging, new IncomingMigrationOptions { VerifyConsistency = true });
        var ran = new List<(string What, DateTimeOffset At)>();
        Assert.True(outgoing.TryRunBeforePause(
            () => { lock (ran) ran.Add(("before", DateTimeOffset.UtcNow)); },
            () => { lock (ran) ran.Add(("undo", DateTimeOffset.UtcNow)); },
            Lead));
        Assert.False(outgoing.TryRunBeforePause(() => { }, () => { }, Lead), "once per migration");
        await Eventually.TrueAsync(async () => await DowntimeLimitAsync(source, Id) == QemuOutgoingMigration.HoldDowntimeLimitMs, TimeSpan.FromSeconds(10),
            "QEMU's downtime limit is the hold's 1 ms", TimeSpan.FromMilliseconds(20));
        await Eventually.TrueAsync(() => outgoing.GetProgress().Round >= 3, Bound, "pre-copy passes over memory again and again");
        Assert.False(outgoing.PreSwitchover.IsCompleted, "held: QEMU did not switch over by itself");
        Assert.Empty(ran);

        // The target raised: the next sample fits it, and the control plane switches over.
        outgoing.SetDowntimeTarget(5000);
        Assert.Equal(QemuOutgoingMigration.HoldDowntimeLimitMs, await DowntimeLimitAsync(source, Id));
        var paused = await outgoing.PreSwitchover.WaitAsync(Bound);

        Assert.Equal(SwitchoverReason.Converged, paused.Reason);
        Assert.True(outgoing.PausedByControlPlane);
        var before = Assert.Single(ran);
        Assert.Equal("before", before.What);
        Assert.True(paused.PausedAtUtc - before.At >= Lead - TimeSpan.FromMilliseconds(2),
            $"the work ran {(paused.PausedAtUtc - before.At).TotalMilliseconds:0.0} ms before QEMU's STOP; the lead is {Lead.TotalMilliseconds} ms");
        var steps = outgoing.SwitchoverTimes().Select(t => t.Step).ToList();
        Assert.Equal(["stop sent", "pre-switchover event"], steps);

        await outgoing.FinalCopyAsync();
        await incoming.Received.WaitAsync(Bound);
        await incoming.ResumeAsync();
        await outgoing.CompleteAsync();
        var check = await incoming.Consistency.WaitAsync(Bound);
        Assert.True(check!.Consistent, check.Summary);
        await AssertAdvancesConsistentlyAsync(destination, Id);
        Assert.DoesNotContain(ran, r => r.What == "undo");
        Assert.True(outgoing.StopToPreSwitchoverMs > 0);
    }

    [Fact]
    public async Task A_failure_during_the_lead_undoes_the_work_and_the_guest_never_stops()
    {
        const string Id = "vm-cplead";
        await using var source = new QemuHypervisorDriver("cplead-src", env.Options());
        await using var destination = new QemuHypervisorDriver("cplead-dst", env.Options());
        var (incoming, outgoing) = await StartHeldAsync(source, destination, Id);
        var events = new List<string>();
        Assert.True(outgoing.TryRunBeforePause(() => { lock (events) events.Add("before"); }, () => { lock (events) events.Add("undo"); }, QemuOutgoingMigration.MaxPauseLead));
        await Eventually.TrueAsync(async () => await DowntimeLimitAsync(source, Id) == QemuOutgoingMigration.HoldDowntimeLimitMs, TimeSpan.FromSeconds(10),
            "held", TimeSpan.FromMilliseconds(20));

        outgoing.RequestSwitchover();
        await Eventually.TrueAsync(() => { lock (events) return events.Count == 1; }, TimeSpan.FromSeconds(10), "the work before the pause runs");
        Assert.True(destination.KillQemu(Id));

        await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.PreSwitchover.WaitAsync(Bound));
        await Eventually.TrueAsync(() => { lock (events) return events.Count == 2; }, TimeSpan.FromSeconds(10), "the work is undone");
        Assert.Equal(["before", "undo"], events);
        await Task.Delay(QemuOutgoingMigration.MaxPauseLead + TimeSpan.FromMilliseconds(300)); // past the lead: no stop may follow
        Assert.False(outgoing.PausedByControlPlane);
        Assert.Equal("running", await StatusAsync(source, Id));
        await AssertAdvancesConsistentlyAsync(source, Id);
        await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.Received.WaitAsync(Bound));
        await destination.DestroyVmAsync(Id).WaitAsync(Bound);
    }

    [Fact]
    public async Task A_failure_after_the_control_planes_stop_undoes_the_work_and_resumes_the_guest_on_the_source()
    {
        const string Id = "vm-cpstop";
        await using var source = new QemuHypervisorDriver("cpstop-src", env.Options());
        await using var destination = new QemuHypervisorDriver("cpstop-dst", env.Options());

        // 2 MB/s: the guest's 16 MiB of dirty pages take seconds to send after the stop.
        var (incoming, outgoing) = await StartHeldAsync(source, destination, Id, NonConverging with { LinkBandwidthBytesPerSecond = 2_000_000 });
        var events = new List<string>();
        Assert.True(outgoing.TryRunBeforePause(() => { lock (events) events.Add("before"); }, () => { lock (events) events.Add("undo"); }, TimeSpan.Zero));
        outgoing.RequestSwitchover();
        await Eventually.TrueAsync(async () => outgoing.PausedByControlPlane && await StatusAsync(source, Id) != "running",
            TimeSpan.FromSeconds(10), "the control plane stopped the guest", TimeSpan.FromMilliseconds(10));

        Assert.True(destination.KillQemu(Id));

        // With the guest stopped the largest limit makes QEMU's next check complete: it may be past pre-switchover already,
        // sending the rest; then the final copy is what fails.
        try
        {
            await outgoing.PreSwitchover.WaitAsync(Bound);
            await Assert.ThrowsAnyAsync<Exception>(() => outgoing.FinalCopyAsync().WaitAsync(Bound));
        }
        catch (MigrationFailedException)
        {
        }

        await Eventually.TrueAsync(async () => await StatusAsync(source, Id) == "running",
            TimeSpan.FromSeconds(10), "the source guest runs again", TimeSpan.FromMilliseconds(20));
        Assert.Equal(["before", "undo"], events);
        Assert.Equal(VmState.Running, (await source.GetVmAsync(Id)).State);
        await AssertAdvancesConsistentlyAsync(source, Id);
        await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.Received.WaitAsync(Bound));
        await destination.DestroyVmAsync(Id).WaitAsync(Bound);
    }

    private async Task<(IIncomingMigration Incoming, QemuOutgoingMigration Outgoing)> StartHeldAsync(QemuHypervisorDriver source, QemuHypervisorDriver destination,
        string id, MigrationOptions? options = null, IncomingMigrationOptions? incomingOptions = null)
    {
        var (incoming, outgoing) = await StartPreCopyAsync(env, source, destination, id, options ?? NonConverging, incomingOptions);
        return (incoming, (QemuOutgoingMigration)outgoing);
    }

    private static async Task<string?> StatusAsync(QemuHypervisorDriver driver, string vmId) =>
        JsonNode.Parse(await driver.PassthroughAsync(vmId, """{"execute":"query-status"}"""))!["return"]!["status"]?.GetValue<string>();

    private static async Task<long> DowntimeLimitAsync(QemuHypervisorDriver driver, string vmId) =>
        JsonNode.Parse(await driver.PassthroughAsync(vmId, """{"execute":"query-migrate-parameters"}"""))!["return"]!["downtime-limit"]!.GetValue<long>();
}
