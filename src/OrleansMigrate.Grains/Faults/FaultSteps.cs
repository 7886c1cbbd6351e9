namespace OrleansMigrate.Grains.Faults;

/// <summary>The step names component actions report to <see cref="IFaultInjector"/>.</summary>
public static class FaultSteps
{
    public const string DiskOpenReadOnly = "disk.open-read-only";
    public const string DiskPause = "disk.pause";
    public const string DiskPromote = "disk.promote-read-write";
    public const string DiskRestore = "disk.restore-writer";
    public const string DiskClose = "disk.close";
    public const string VpcStageRelay = "vpc.stage-relay";
    public const string VpcEnableRelay = "vpc.enable-relay";
    public const string VpcDisableRelay = "vpc.disable-relay";
    public const string VpcRemoveRelay = "vpc.remove-relay";
    public const string VpcRepointFlow = "vpc.repoint-flow";
    public const string AgentPrepareIncoming = "agent.prepare-incoming";
    public const string AgentStartOutgoing = "agent.start-outgoing";
    public const string AgentFinalCopy = "agent.final-copy";
    public const string AgentResume = "agent.resume";
    /// <summary>A cold move's shutdown of the guest on its source host (before the guest is asked to power off).</summary>
    public const string AgentColdShutdown = "agent.cold-shutdown";

    /// <summary>A cold move's start of the VM on its destination host (before the hypervisor boots it).</summary>
    public const string AgentColdStart = "agent.cold-start";
    public const string MigrationPrepare = "migration.prepare";
    public const string MigrationPreCopy = "migration.precopy";
    public const string MigrationSwitchover = "migration.switchover";

    /// <summary>The migration grain's state write at a phase transition (a failing write reverts the phase in memory).</summary>
    public const string MigrationSavePhase = "migration.save-phase";

    /// <summary>The migration grain's first state write, when the scheduler starts it (a failing write leaves it unstarted).</summary>
    public const string MigrationSaveStart = "migration.save-start";

    /// <summary>The migration scheduler's state write (a submit whose write failed is forgotten and the caller hears it).</summary>
    public const string SchedulerSave = "scheduler.save";
    public const string ServicesNotify = "services.notify-moved";
    public const string MaintenanceUpgrade = "maintenance.upgrade";
    public const string PowerSet = "power.set";
}
