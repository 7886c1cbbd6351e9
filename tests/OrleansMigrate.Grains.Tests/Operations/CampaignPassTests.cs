using System.Collections.Immutable;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Fleet;
using OrleansMigrate.Grains.Operations;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Tests.Operations;

/// <summary>The campaign pass's decisions, table-driven, without a cluster: after a drain, after the post-upgrade
/// check, the failure budget, how a campaign ends, and the batch's share of migrations.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class CampaignPassTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 7, 30, 0, TimeSpan.Zero);

    private static DrainStatus Drain(DrainState state, params DrainVm[] vms) =>
        new("h-1", state, new DrainOptions(), [.. vms], Now.AddMinutes(-5), Now, $"drain {state}", MigrationsRolledBack: 2, MigrationsFailed: 1);

    public static TheoryData<string, DrainState, CampaignHostState, CampaignHostAction, string?> AfterDrainCases => new()
    {
        // name, drain ended in, host state after, action, reason contains
        { "completed: upgrade", DrainState.Completed, CampaignHostState.Upgrading, CampaignHostAction.StartUpgrade, null },
        { "aborted: skipped, back in service", DrainState.Aborted, CampaignHostState.Skipped, CampaignHostAction.Uncordon, "drain Aborted" },
        { "incomplete: failed, back in service with its VMs", DrainState.Incomplete, CampaignHostState.Failed, CampaignHostAction.Uncordon, "drain incomplete: drain Incomplete" },
    };

    [Theory]
    [MemberData(nameof(AfterDrainCases))]
    public void A_host_whose_drain_ended_goes_on_by_the_drains_outcome(string name, DrainState drainState, CampaignHostState expected, CampaignHostAction action, string? reason)
    {
        var host = new CampaignHost("h-1", CampaignHostState.Draining, "1.0.0", StartedAt: Now.AddMinutes(-5));
        var drain = Drain(drainState,
            new DrainVm("vm-a", DrainVmState.Moved, "mig-1"),
            new DrainVm("vm-b", DrainVmState.Moved), // deleted during the drain: no migration, not counted as moved
            new DrainVm("vm-c", DrainVmState.Unmovable, Reason: "pass-through"),
            new DrainVm("vm-d", DrainVmState.Failed, "mig-4", Reason: "rolled back 3 times"));

        var (after, did) = CampaignPass.AfterDrain(host, drain, Now);

        Assert.True(after.State == expected && did == action, $"{name}: {after.State}, {did}");
        Assert.Equal(1, after.VmsMoved);
        Assert.Equal((2, 1), (after.MigrationsRolledBack, after.MigrationsFailed));
        Assert.Equal(["vm-c on h-1: pass-through", "vm-d on h-1: rolled back 3 times"], after.Unmovable.ToArray());
        if (reason is null)
        {
            Assert.Null(after.EndedAt);
        }
        else
        {
            Assert.Contains(reason, after.Reason);
            Assert.Equal(Now, after.EndedAt);
        }
    }

    public static TheoryData<string, bool, string?, string?> CheckCases => new()
    {
        // name, healthy, version reported, failure contains (null: passed)
        { "healthy on the version", true, "2.0.0", null },
        { "unhealthy", false, "2.0.0", "unhealthy after the upgrade: fan" },
        { "healthy on another version", true, "1.9.0", "reports firmware 1.9.0 after the upgrade, expected 2.0.0" },
        { "healthy, no version", true, null, "reports firmware unknown" },
    };

    [Theory]
    [MemberData(nameof(CheckCases))]
    public void An_upgraded_host_passes_its_check_only_healthy_and_on_the_version(string name, bool healthy, string? version, string? failure)
    {
        var why = CampaignPass.CheckFailure(new HostCheck(healthy, version, "fan"), "2.0.0");

        if (failure is null)
            Assert.True(why is null, $"{name}: {why}");
        else
            Assert.True(why?.Contains(failure, StringComparison.Ordinal) == true, $"{name}: {why}");
    }

    private static CampaignStatus Campaign(CampaignState state, int budget, int failures, int failuresAtResume, params CampaignHostState[] hosts) =>
        new("c-1", new CampaignSpec("2.0.0", Batch: 2, MaxParallelMigrations: 8, FailureBudget: budget), state,
            [.. hosts.Select((h, i) => new CampaignHost($"h-{i}", h, "1.0.0", VmsMoved: h == CampaignHostState.Done ? 3 : 0))],
            failures, null, Now.AddHours(-1), null, failuresAtResume);

    public static TheoryData<string, CampaignState, int, int, int, int, bool> BudgetCases => new()
    {
        // name, state, budget, failures now, failures before this pass, failures at the last resume, spent
        { "first failure, budget 1", CampaignState.Running, 1, 1, 0, 0, true },
        { "first failure, budget 2", CampaignState.Running, 2, 1, 0, 0, false },
        { "no new failure this pass", CampaignState.Running, 1, 1, 1, 0, false },
        { "resumed after spending it: the next failure pauses again", CampaignState.Running, 1, 2, 1, 1, true },
        { "resumed, no new failure", CampaignState.Running, 1, 1, 1, 1, false },
        { "cancelling never pauses", CampaignState.Cancelling, 1, 1, 0, 0, false },
    };

    [Theory]
    [MemberData(nameof(BudgetCases))]
    public void The_failure_budget_is_spent_by_a_new_failure_since_the_last_resume(string name, CampaignState state, int budget, int failures, int before, int atResume, bool spent)
    {
        var next = Campaign(state, budget, failures, atResume, CampaignHostState.Failed, CampaignHostState.Waiting);

        Assert.True(CampaignPass.BudgetSpent(next, before) == spent, name);
    }

    public static TheoryData<string, CampaignState, CampaignHostState[], CampaignState?, string?> EndCases => new()
    {
        // name, state, hosts, ends in (null: goes on), note contains
        { "running, a host draining", CampaignState.Running, [CampaignHostState.Done, CampaignHostState.Draining], null, null },
        { "running, a host waiting", CampaignState.Running, [CampaignHostState.Done, CampaignHostState.Waiting], null, null },
        { "running, all ended", CampaignState.Running, [CampaignHostState.Done, CampaignHostState.Failed, CampaignHostState.Skipped], CampaignState.Completed, "1 host(s) upgraded to 2.0.0, 1 failed, 3 VM(s) moved" },
        { "cancelling, one upgrading", CampaignState.Cancelling, [CampaignHostState.Upgrading, CampaignHostState.Waiting], null, null },
        { "cancelling, none in progress", CampaignState.Cancelling, [CampaignHostState.Done, CampaignHostState.Waiting], CampaignState.Cancelled, null },
        { "paused with all ended stays paused", CampaignState.Paused, [CampaignHostState.Failed], null, null },
    };

    [Theory]
    [MemberData(nameof(EndCases))]
    public void A_campaign_ends_when_nothing_is_in_progress(string name, CampaignState state, CampaignHostState[] hosts, CampaignState? ends, string? note)
    {
        var end = CampaignPass.End(Campaign(state, 1, 0, 0, hosts), Now);

        Assert.True(end?.State == ends, $"{name}: {end?.State}");
        if (end is null)
            return;
        Assert.Equal(Now, end.EndedAt);
        if (note is not null)
            Assert.Equal(note, end.Note);
        if (ends == CampaignState.Cancelled)
            Assert.All(end.Hosts.Where(h => h.HostId == "h-1"), h => Assert.Equal((CampaignHostState.Skipped, "campaign cancelled"), (h.State, h.Reason)));
    }

    [Theory]
    [InlineData(8, 2, 4)]
    [InlineData(1, 4, 1)]
    [InlineData(400, 5, 64)]
    public void The_batch_shares_the_migration_limit_one_to_sixty_four_per_drain(int maxParallel, int batch, int perDrain) =>
        Assert.Equal(perDrain, CampaignPass.PerDrain(new CampaignSpec("2.0.0", Batch: batch, MaxParallelMigrations: maxParallel)));
}
