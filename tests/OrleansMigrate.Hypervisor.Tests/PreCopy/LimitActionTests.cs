using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;
using OrleansMigrate.Hypervisor.Tests.Simulated;
using OrleansMigrate.Hypervisor.Tests.Support;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.PreCopy;

/// <summary>
/// The limit action at the pre-copy time limit, one body against both the real engine (simulated guest over loopback
/// TCP) and the analytic model: a guest that dirties memory faster than the link carries never converges, and at
/// <see cref="MigrationOptions.MaxPreCopyMs"/> the engine itself aborts (the source keeps running, nothing switches
/// over, the failure names the limit and who set it) or switches over anyway.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class LimitActionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>A source and destination driver, a guest out-dirtying the link, and options with only the time limit in reach.</summary>
    private static (IHypervisorDriver Source, IHypervisorDriver Destination, VmSpec Spec, MigrationOptions Options) Setup(string driver, PreCopyLimitAction action)
    {
        var options = new MigrationOptions { MaxRounds = 100_000, LimitAction = action, LimitSource = "policy 'critical'" };
        return driver switch
        {
            // 100 MB/s into an 8 MiB hot set over a 40 MB/s link: every final copy would be ~200 ms against a 20 ms
            // target. The first round (16 MiB, ~0.42 s) fits the 3 s limit several times over, so a loaded machine
            // that slows the sender still sees more than one round before the limit.
            "simulated" => (new SimulatedHypervisorDriver("limit-src"), new SimulatedHypervisorDriver("limit-dst"),
                Guests.Spec("vm-limit", 16, workload: new GuestWorkloadOptions { DirtyMegabytesPerSecond = 100, Pattern = DirtyPattern.HotSet, HotSetMiB = 8 }),
                options with { LinkBandwidthBytesPerSecond = 40_000_000, MaxPreCopyMs = 3000 }),
            // 200 MB/s over a 125 MB/s link: every round resends all 64 MiB (~537 ms modelled each).
            _ => (new AnalyticHypervisorDriver("limit-src"), new AnalyticHypervisorDriver("limit-dst"),
                AnalyticHosts.Spec("vm-limit", 64, dirtyMBps: 200),
                options with { LinkBandwidthBytesPerSecond = 125_000_000, MaxPreCopyMs = 20_000 }),
        };
    }

    private static async Task<VmState?> StateAsync(IHypervisorDriver driver, string vmId) =>
        (await driver.ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == vmId)?.State;

    /// <summary>The VM's state once it is <paramref name="expected"/>, or its last state after <see cref="Patience"/>.</summary>
    private static async Task<VmState?> StateWithinAsync(IHypervisorDriver driver, string vmId, VmState expected)
    {
        try
        {
            return await Eventually.UntilAsync(() => StateAsync(driver, vmId), state => state == expected, Patience, $"{vmId} is {expected}", TimeSpan.FromMilliseconds(10));
        }
        catch (TimeoutException)
        {
            return await StateAsync(driver, vmId);
        }
    }

    [Theory]
    [InlineData("simulated")]
    [InlineData("analytic")]
    public async Task With_the_abort_action_a_guest_that_cannot_converge_is_aborted_at_the_time_limit_and_keeps_running_on_the_source(string driver)
    {
        var (source, destination, spec, options) = Setup(driver, PreCopyLimitAction.Fail);
        await using var src = source;
        await using var dst = destination;
        await source.CreateVmAsync(spec);
        await source.StartVmAsync(spec.VmId);
        await destination.CreateVmAsync(spec);
        var incoming = await destination.PrepareIncomingAsync(spec.VmId, new IncomingMigrationOptions());

        var outgoing = await source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, options);

        var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.PreSwitchover.WaitAsync(Patience));
        Assert.Equal(MigrationFailureKind.DidNotConverge, failure.Kind);
        Assert.Contains($"pre-copy aborted at its time limit ({options.MaxPreCopyMs:0} ms, policy 'critical', on limit: abort)", failure.Message);
        Assert.Contains("the VM runs on the source", failure.Message);
        Assert.Equal(OutgoingMigrationState.Failed, outgoing.State);
        Assert.True(outgoing.GetRounds().Count > 1, "pre-copy iterated before the limit");
        Assert.All(outgoing.GetRounds(), r => Assert.Equal(RoundStage.PreCopy, r.Stage));
        Assert.Equal(VmState.Running, await StateWithinAsync(source, spec.VmId, VmState.Running));
        await Assert.ThrowsAsync<MigrationFailedException>(() => incoming.Received.WaitAsync(Patience));
        Assert.NotEqual(VmState.Running, await StateAsync(destination, spec.VmId));
    }

    [Theory]
    [InlineData("simulated")]
    [InlineData("analytic")]
    public async Task With_the_force_action_the_same_guest_switches_over_at_the_time_limit(string driver)
    {
        var (source, destination, spec, options) = Setup(driver, PreCopyLimitAction.ForceSwitchover);
        await using var src = source;
        await using var dst = destination;
        await source.CreateVmAsync(spec);
        await source.StartVmAsync(spec.VmId);
        await destination.CreateVmAsync(spec);
        var incoming = await destination.PrepareIncomingAsync(spec.VmId, new IncomingMigrationOptions());

        var outgoing = await source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, options with { PreLastCopy = new PreLastCopyOptions { Enabled = false } });

        var paused = await outgoing.PreSwitchover.WaitAsync(Patience);
        Assert.Equal(SwitchoverReason.TimeLimit, paused.Reason);
        Assert.Equal(VmState.Paused, await StateAsync(source, spec.VmId));
        await outgoing.CancelAsync("test done");
        Assert.Equal(VmState.Running, await StateWithinAsync(source, spec.VmId, VmState.Running));
    }
}
