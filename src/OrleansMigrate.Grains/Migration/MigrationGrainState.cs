using System.Collections.Immutable;
using OrleansMigrate.Agents;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>Persisted state of <see cref="MigrationGrain"/>, written at every phase transition. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.MigrationGrainState")]
public sealed class MigrationGrainState
{
    [Id(0)] public MigrationRequest? Request { get; set; }
    [Id(1)] public string SourceHost { get; set; } = "";
    [Id(2)] public string DestinationHost { get; set; } = "";
    [Id(3)] public MigrationPhase Phase { get; set; }
    [Id(4)] public ImmutableArray<PhaseSpan> Timeline { get; set; } = [];
    [Id(5)] public DowntimeReport? Downtime { get; set; }
    [Id(6)] public string? Failure { get; set; }
    [Id(7)] public DateTimeOffset CreatedAt { get; set; }
    [Id(8)] public double? TotalMs { get; set; }
    [Id(9)] public int Attempts { get; set; }
    [Id(10)] public string? CancelReason { get; set; }
    [Id(11)] public IncomingEndpoint? Endpoint { get; set; }
    [Id(12)] public OrleansMigrate.Fleet.VmSpec? Vm { get; set; }
    [Id(13)] public MigrationProgressInfo Progress { get; set; } = MigrationProgressInfo.None;
    [Id(14)] public HypervisorReport? Hypervisor { get; set; }

    /// <summary>Set while the migration waits for a host agent that does not answer (see <see cref="AgentWait"/>).</summary>
    [Id(15)] public AgentWait? AgentWait { get; set; }

    /// <summary>The VM's record was marked <see cref="OrleansMigrate.Fleet.PowerState.Unknown"/> by a wait: the migration's end records what it knows.</summary>
    [Id(16)] public bool VmMarkedUnknown { get; set; }

    /// <summary>The silos that served the source and destination hosts when last seen alive, for messages about them.</summary>
    [Id(17)] public string? SourceSilo { get; set; }

    [Id(18)] public string? DestinationSilo { get; set; }

    /// <summary>The destination guest's check after the commit (null until it ran).</summary>
    [Id(19)] public GuestCheck? GuestCheck { get; set; }

    /// <summary>Who asked for a force-complete (set once, while in pre-copy); the run loop tells the data plane.</summary>
    [Id(20)] public string? ForceCompleteBy { get; set; }

    /// <summary>Why pre-copy stopped iterating (<see cref="MigrationStatus.SwitchoverReason"/>), once it did.</summary>
    [Id(21)] public string? SwitchoverReason { get; set; }

    /// <summary>The hot-plug steps of the VM's SR-IOV VFs so far (<see cref="MigrationStatus.DeviceSteps"/>).</summary>
    [Id(22)] public ImmutableArray<DeviceStep> DeviceSteps { get => field.IsDefault ? [] : field; set; } = [];

    /// <summary>A cold move's own record (<see cref="MigrationStatus.Cold"/>); null for a live migration.</summary>
    [Id(23)] public ColdMoveReport? Cold { get; set; }
}
