using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

/// <summary>Convergence control on QEMU: the orchestrator's downtime escalation and forced switchover reach QEMU's
/// parameters; auto-converge is set from the options; pre-copy progress comes from query-migrate.</summary>
[Collection("qemu")]
[Trait(TestCategory.Trait, TestCategory.Qemu)]
public sealed class QemuConvergenceTests(QemuEnvironment env) : IDisposable
{
    public void Dispose() => env.EndTest();

    [Fact]
    public async Task Escalating_the_downtime_target_reaches_QEMU_and_lets_a_stuck_pre_copy_converge()
    {
        await using var source = new QemuHypervisorDriver("conv-src", env.Options());
        await using var destination = new QemuHypervisorDriver("conv-dst", env.Options());
        await source.CreateVmAsync(env.Spec("vm-conv"));
        await source.StartVmAsync("vm-conv");
        await QemuTestGuest.WaitForPassesAsync(source, "vm-conv", 1);
        await destination.CreateVmAsync(env.Spec("vm-conv"));
        var incoming = await destination.PrepareIncomingAsync("vm-conv", new IncomingMigrationOptions());
        var outgoing = await source.StartOutgoingAsync("vm-conv", incoming.Endpoint, QemuTestGuest.NonConverging);
        await QemuTestGuest.WaitForPreCopyAsync(outgoing);
        Assert.False(await CapabilityAsync(source, "vm-conv", "auto-converge"));
        Assert.True(await CapabilityAsync(source, "vm-conv", "pause-before-switchover"));

        // The progress the orchestrator's stall detector reads comes from query-migrate.
        await Eventually.TrueAsync(() => outgoing.GetProgress().BytesSent > 0 && outgoing.GetProgress().DirtyRateBytesPerSecond >= 0, TimeSpan.FromSeconds(20),
            "query-migrate reports bytes sent and a dirty rate");
        await Task.Delay(1500); // a fixed delay on purpose: time passes and pre-copy must still not converge
        Assert.False(outgoing.PreSwitchover.IsCompleted, "1 ms of downtime at 20 MB/s cannot be met by a guest dirtying 75 MB/s");

        // Escalation: the new target is QEMU's downtime-limit, and pre-copy converges under it.
        outgoing.SetDowntimeTarget(5000);
        await Eventually.TrueAsync(async () =>
            JsonNode.Parse(await source.PassthroughAsync("vm-conv", """{"execute":"query-migrate-parameters"}"""))!["return"]!["downtime-limit"]!.GetValue<long>() == 5000,
            TimeSpan.FromSeconds(10), "downtime-limit follows the escalated target", TimeSpan.FromMilliseconds(20));
        var paused = await outgoing.PreSwitchover.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(SwitchoverReason.Converged, paused.Reason);
        Assert.Equal(5000, outgoing.DowntimeTargetMs);

        await outgoing.FinalCopyAsync();
        await incoming.Received.WaitAsync(TimeSpan.FromSeconds(30));
        await incoming.ResumeAsync();
        await outgoing.CompleteAsync();
        var stats = await ((QemuOutgoingMigration)outgoing).FinalStats;
        Assert.NotNull(stats);
        Assert.Equal("completed", stats!.Status);
        Assert.True(stats.DowntimeMs > 0 && stats.TotalTimeMs > 0 && stats.TransferredBytes > 0 && stats.DirtySyncCount >= 1, $"QEMU's figures: {stats}");
    }

    [Fact]
    public async Task A_forced_switchover_ends_a_pre_copy_that_would_never_converge()
    {
        await using var source = new QemuHypervisorDriver("force-src", env.Options());
        await using var destination = new QemuHypervisorDriver("force-dst", env.Options());
        await source.CreateVmAsync(env.Spec("vm-force"));
        await source.StartVmAsync("vm-force");
        await QemuTestGuest.WaitForPassesAsync(source, "vm-force", 1);
        await destination.CreateVmAsync(env.Spec("vm-force"));
        var incoming = await destination.PrepareIncomingAsync("vm-force", new IncomingMigrationOptions { VerifyConsistency = true });
        var outgoing = await source.StartOutgoingAsync("vm-force", incoming.Endpoint, QemuTestGuest.NonConverging with { AutoConverge = true });
        await QemuTestGuest.WaitForPreCopyAsync(outgoing);
        Assert.True(await CapabilityAsync(source, "vm-force", "auto-converge"));

        outgoing.RequestSwitchover();
        var paused = await outgoing.PreSwitchover.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(SwitchoverReason.Requested, paused.Reason);
        await outgoing.FinalCopyAsync();
        await incoming.Received.WaitAsync(TimeSpan.FromSeconds(30));
        await incoming.ResumeAsync();
        await outgoing.CompleteAsync();
        var check = await incoming.Consistency.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(check!.Consistent, check.Summary);
        await QemuTestGuest.AssertAdvancesConsistentlyAsync(destination, "vm-force");
    }

    /// <summary>A 2 s limit inside the bulk pass (the guest's 16 MiB of written pages at 5 MB/s take over 3 s), before QEMU
    /// could ever find the 1 ms downtime limit met, however slowly the guest runs.</summary>
    private static MigrationOptions PastTheBulkPass => QemuTestGuest.NonConverging with { LinkBandwidthBytesPerSecond = 5_000_000, MaxPreCopyMs = 2000 };

    /// <summary>QEMU has no pre-copy time limit: the driver applies <see cref="MigrationOptions.MaxPreCopyMs"/> and the
    /// limit action itself. Abort cancels QEMU's migration and the guest keeps running on the source.</summary>
    [Fact]
    public async Task At_the_time_limit_the_abort_action_cancels_a_pre_copy_that_would_never_converge_and_the_guest_runs_on()
    {
        await using var source = new QemuHypervisorDriver("limit-src", env.Options());
        await using var destination = new QemuHypervisorDriver("limit-dst", env.Options());
        await source.CreateVmAsync(env.Spec("vm-limit"));
        await source.StartVmAsync("vm-limit");
        var before = await QemuTestGuest.WaitForPassesAsync(source, "vm-limit", 1);
        await destination.CreateVmAsync(env.Spec("vm-limit"));
        var incoming = await destination.PrepareIncomingAsync("vm-limit", new IncomingMigrationOptions());
        var options = PastTheBulkPass with { LimitAction = PreCopyLimitAction.Fail, LimitSource = "policy 'critical'" };

        var outgoing = await source.StartOutgoingAsync("vm-limit", incoming.Endpoint, options);

        var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.PreSwitchover.WaitAsync(QemuTestGuest.Bound));
        Assert.Equal(MigrationFailureKind.DidNotConverge, failure.Kind);
        Assert.Contains("pre-copy aborted at its time limit (2000 ms, policy 'critical', on limit: abort)", failure.Message);
        Assert.Equal(OutgoingMigrationState.Failed, outgoing.State);
        Assert.True(outgoing.GetProgress().BytesSent > 0, "pre-copy ran before the limit");
        await Eventually.TrueAsync(async () =>
            JsonNode.Parse(await source.PassthroughAsync("vm-limit", """{"execute":"query-migrate"}"""))!["return"]!["status"]?.GetValue<string>() == "cancelled",
            TimeSpan.FromSeconds(10), "QEMU's migration is cancelled", TimeSpan.FromMilliseconds(20));
        Assert.Equal(VmState.Running, (await source.ListVmsAsync()).Single(v => v.Spec.VmId == "vm-limit").State);
        await QemuTestGuest.AssertAdvancesConsistentlyAsync(source, "vm-limit", before.Position);
        await outgoing.CancelAsync("test done");
        await incoming.AbortAsync("test done");
    }

    [Fact]
    public async Task At_the_time_limit_the_force_action_switches_over_a_pre_copy_that_would_never_converge()
    {
        await using var source = new QemuHypervisorDriver("tforce-src", env.Options());
        await using var destination = new QemuHypervisorDriver("tforce-dst", env.Options());
        await source.CreateVmAsync(env.Spec("vm-tforce"));
        await source.StartVmAsync("vm-tforce");
        await QemuTestGuest.WaitForPassesAsync(source, "vm-tforce", 1);
        await destination.CreateVmAsync(env.Spec("vm-tforce"));
        var incoming = await destination.PrepareIncomingAsync("vm-tforce", new IncomingMigrationOptions { VerifyConsistency = true });

        var outgoing = await source.StartOutgoingAsync("vm-tforce", incoming.Endpoint, PastTheBulkPass);

        var paused = await outgoing.PreSwitchover.WaitAsync(QemuTestGuest.Bound);
        Assert.Equal(SwitchoverReason.TimeLimit, paused.Reason);
        await outgoing.FinalCopyAsync();
        await incoming.Received.WaitAsync(TimeSpan.FromSeconds(30));
        await incoming.ResumeAsync();
        await outgoing.CompleteAsync();
        var check = await incoming.Consistency.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(check!.Consistent, check.Summary);
    }

    private static async Task<bool> CapabilityAsync(QemuHypervisorDriver driver, string vmId, string name)
    {
        var capabilities = JsonNode.Parse(await driver.PassthroughAsync(vmId, """{"execute":"query-migrate-capabilities"}"""))!["return"]!.AsArray();
        return capabilities.Single(c => c!["capability"]!.GetValue<string>() == name)!["state"]!.GetValue<bool>();
    }
}
