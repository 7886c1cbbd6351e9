using OrleansMigrate.Operations;

namespace OrleansMigrate.Grains.Operations;

/// <summary>What the campaign does to a host's scheduling after its drain ended.</summary>
public enum CampaignHostAction
{
    /// <summary>Nothing: the host stays as it is.</summary>
    None = 0,

    /// <summary>Start the host's firmware upgrade (it is empty and in maintenance).</summary>
    StartUpgrade = 1,

    /// <summary>Put the host back into service as it is (not upgraded).</summary>
    Uncordon = 2,
}

/// <summary>
/// The decisions of one campaign pass, as plain functions of what the pass read — tested with tables, without a cluster.
/// <see cref="CampaignGrain"/> reads (drains, upgrades, health checks, the fleet's room) and acts (starts drains and
/// upgrades, sets a host's scheduling, health and firmware) and asks this class what each answer means.
/// </summary>
public static class CampaignPass
{
    /// <summary>Whether a host is in progress: its drain, upgrade or check has started and not ended.</summary>
    public static bool InProgress(CampaignHost h) => h.State is CampaignHostState.Draining or CampaignHostState.Upgrading or CampaignHostState.Verifying;

    /// <summary>A host whose drain ended: the drain's counts copied onto it, and what comes next — completed: upgrade it;
    /// aborted: skipped and back into service; incomplete (VMs that cannot move): failed, back into service with them.</summary>
    public static (CampaignHost Host, CampaignHostAction Action) AfterDrain(CampaignHost h, DrainStatus drain, DateTimeOffset now)
    {
        h = h with
        {
            VmsMoved = drain.Vms.Count(v => v.State == DrainVmState.Moved && v.MigrationId is not null),
            MigrationsRolledBack = drain.MigrationsRolledBack,
            MigrationsFailed = drain.MigrationsFailed,
            Unmovable = [.. drain.Vms.Where(v => v.State is DrainVmState.Unmovable or DrainVmState.Failed).Select(v => $"{v.VmId} on {h.HostId}: {v.Reason}")],
        };
        return drain.State switch
        {
            DrainState.Completed => (h with { State = CampaignHostState.Upgrading }, CampaignHostAction.StartUpgrade),
            DrainState.Aborted => (h with { State = CampaignHostState.Skipped, Reason = drain.Note, EndedAt = now }, CampaignHostAction.Uncordon),
            _ => (h with { State = CampaignHostState.Failed, Reason = $"drain incomplete: {drain.Note}", EndedAt = now }, CampaignHostAction.Uncordon),
        };
    }

    /// <summary>Why an upgraded host fails its check, or null when it passed: it must be healthy and report exactly the
    /// campaign's firmware version.</summary>
    public static string? CheckFailure(HostCheck check, string expectedVersion)
    {
        if (!check.Healthy)
            return $"unhealthy after the upgrade: {check.Detail}";
        return check.FirmwareVersion != expectedVersion
            ? $"reports firmware {check.FirmwareVersion ?? "unknown"} after the upgrade, expected {expectedVersion}"
            : null;
    }

    /// <summary>Whether this pass spends the failure budget: the campaign is running, the hosts failed since it was last
    /// resumed reach <see cref="CampaignSpec.FailureBudget"/>, and a host failed in this very pass (so a resume with the
    /// budget still spent goes on until the next failure).</summary>
    public static bool BudgetSpent(CampaignStatus next, int failuresBefore) =>
        next.State == CampaignState.Running && next.Failures - next.FailuresAtResume >= next.Spec.FailureBudget && next.Failures > failuresBefore;

    /// <summary>How the campaign ends after this pass, or null while it goes on: cancelling with nothing in progress →
    /// cancelled (hosts still waiting are skipped); running with every host ended → completed with the counts.</summary>
    public static CampaignStatus? End(CampaignStatus s, DateTimeOffset now)
    {
        if (s.Hosts.Any(InProgress))
            return null;
        if (s.State == CampaignState.Cancelling)
        {
            return s with
            {
                State = CampaignState.Cancelled,
                EndedAt = now,
                Hosts = [.. s.Hosts.Select(h => h.State == CampaignHostState.Waiting ? h with { State = CampaignHostState.Skipped, Reason = "campaign cancelled" } : h)],
            };
        }

        return s.State == CampaignState.Running && s.Hosts.All(h => h.State is CampaignHostState.Done or CampaignHostState.Failed or CampaignHostState.Skipped)
            ? s with
            {
                State = CampaignState.Completed,
                EndedAt = now,
                Note = $"{s.HostsUpgraded} host(s) upgraded to {s.Spec.FirmwareVersion}, {s.HostsFailed} failed, {s.VmsMoved} VM(s) moved",
            }
            : null;
    }

    /// <summary>Migrations each drain of the batch may run at once: the campaign's limit shared by the batch, 1–64 (a drain
    /// takes at most 64; above that every drain was refused and the campaign ended having skipped every host).</summary>
    public static int PerDrain(CampaignSpec spec) => Math.Clamp(spec.MaxParallelMigrations / spec.Batch, 1, 64);
}
