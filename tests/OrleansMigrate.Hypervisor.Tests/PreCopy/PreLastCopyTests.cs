using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;
using OrleansMigrate.Hypervisor.Tests.Support;

namespace OrleansMigrate.Hypervisor.Tests.PreCopy;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class PreLastCopyTests
{
    private static VmSpec SurgingGuest(string vmId) => Guests.Spec(vmId, 32, workload: new GuestWorkloadOptions
    {
        DirtyMegabytesPerSecond = 5,
        Pattern = DirtyPattern.HotSet,
        HotSetMiB = 8,
        // 200 MB/s on an 8 MiB hot set from boot for 4 s: every round re-dirties most of the hot set. The pre-copy deadline
        // (first round + 300 ms, well under a second) falls inside the surge even when a loaded machine slows boot and
        // the first round several times over (at 1.5 s it once ended before the deadline under a load average of 30).
        Surge = new SurgeOptions(StartMs: 0, DurationMs: 4000, Multiplier: 40),
    });

    private static MigrationOptions DeadlineInsideTheSurge(bool preLastCopy) => Guests.SlowLink() with
    {
        DowntimeTargetMs = 10,
        MaxPreCopyMs = 300,
        LimitAction = PreCopyLimitAction.ForceSwitchover,
        PreLastCopy = new PreLastCopyOptions { Enabled = preLastCopy, MaxWaitMs = 8000 },
    };

    [Fact]
    public async Task PreLastCopyWaitsOutASurgeAndRecordsWhy()
    {
        await using var hosts = new TwoHosts();
        var spec = SurgingGuest("vm-surge");
        await hosts.BootAsync(spec);

        var report = await LiveMigration.RunAsync(hosts.Source, hosts.Destination, spec.VmId, DeadlineInsideTheSurge(preLastCopy: true));

        Assert.Equal(SwitchoverReason.TimeLimit, report.SwitchoverReason);
        Assert.Contains(report.PreLastCopyDecisions, d => d.Verdict == PreLastCopyVerdict.Wait && d.Reason.StartsWith("surge", StringComparison.Ordinal) && d.EstimatedFinalCopyMs > 10);
        var last = report.PreLastCopyDecisions[^1];
        Assert.Equal(PreLastCopyVerdict.Proceed, last.Verdict);
        Assert.True(last.EstimatedFinalCopyMs <= 10, last.Reason);
        Assert.Contains(report.Rounds, r => r.Stage == RoundStage.PreLastCopy);
        Assert.True(report.Consistency!.Consistent, report.Consistency.Summary);
    }

    [Fact]
    public async Task WithoutPreLastCopyTheDeadlineFreezesTheGuestInTheSurge()
    {
        await using var hosts = new TwoHosts();
        var spec = SurgingGuest("vm-surge-no-plc");
        await hosts.BootAsync(spec);

        var report = await LiveMigration.RunAsync(hosts.Source, hosts.Destination, spec.VmId, DeadlineInsideTheSurge(preLastCopy: false));

        Assert.Equal(SwitchoverReason.TimeLimit, report.SwitchoverReason);
        Assert.Equal(PreLastCopyVerdict.Skipped, Assert.Single(report.PreLastCopyDecisions).Verdict);
        Assert.DoesNotContain(report.Rounds, r => r.Stage == RoundStage.PreLastCopy);
        Assert.True(report.Downtime.FinalPages > 256, $"only {report.Downtime.FinalPages} pages were dirty at the forced switchover");
        Assert.True(report.Consistency!.Consistent, report.Consistency.Summary);
    }
}
