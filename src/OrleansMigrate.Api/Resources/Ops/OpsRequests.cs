using System.Collections.Immutable;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Api.Resources.Ops;

/// <summary>POST /v1/hosts/{id}/drain. Omitted fields take <see cref="DrainOptions"/>' defaults (the CLI's).</summary>
public sealed record DrainCreate(int? MaxParallel = null, string? Policy = null, string? PreferFirmware = null, int? MaxAttemptsPerVm = null, bool? Preflight = null)
{
    public DrainOptions ToOptions(string requestedBy)
    {
        var d = new DrainOptions();
        return d with
        {
            MaxParallel = MaxParallel ?? d.MaxParallel,
            Policy = Policy,
            PreferFirmware = PreferFirmware,
            MaxAttemptsPerVm = MaxAttemptsPerVm ?? d.MaxAttemptsPerVm,
            Preflight = Preflight ?? d.Preflight,
            RequestedBy = requestedBy,
        };
    }
}

/// <summary>A body with only a reason: drain abort, campaign pause and cancel. Omitted: "… through the API by WHO".</summary>
public sealed record ReasonBody(string? Reason = null);

/// <summary>POST /v1/campaigns. The id is generated (camp-…) unless given.</summary>
public sealed record CampaignCreate(
    string FirmwareVersion,
    string? CampaignId = null,
    string? SelectorKey = null,
    string? SelectorValue = null,
    int? Batch = null,
    int? MaxParallelMigrations = null,
    int? FailureBudget = null,
    bool? AllowDoubleMoves = null)
{
    public CampaignSpec ToSpec(string requestedBy)
    {
        var d = new CampaignSpec(FirmwareVersion);
        return d with
        {
            SelectorKey = SelectorKey,
            SelectorValue = SelectorValue,
            Batch = Batch ?? d.Batch,
            MaxParallelMigrations = MaxParallelMigrations ?? d.MaxParallelMigrations,
            FailureBudget = FailureBudget ?? d.FailureBudget,
            AllowDoubleMoves = AllowDoubleMoves ?? d.AllowDoubleMoves,
            RequestedBy = requestedBy,
        };
    }
}

/// <summary>POST /v1/plans/defrag: make room for <c>count</c> instances of a shape.</summary>
public sealed record DefragPlanCreate(int Vcpus, long MemoryMib, int? Count = null, ImmutableArray<string>? RequiredCpuFeatures = null);

/// <summary>POST /v1/plans/balance: bring every host to at most <c>max_util</c> (0–1] of its cores and memory.</summary>
public sealed record BalancePlanCreate(double MaxUtil, int? CoolDownMinutes = null);

/// <summary>POST /v1/power/plan: keep <c>headroom_percent</c> (0–90, default 20) free per failure domain, optionally in one <c>domain</c>.</summary>
public sealed record PowerPlanCreate(int? HeadroomPercent = null, string? Domain = null);

/// <summary>POST /v1/power/hosts/{id}: <c>state</c> on or off.</summary>
public sealed record HostPowerSet(string? State = null);

/// <summary>POST /v1/plans/{id}/apply.</summary>
public sealed record PlanApply(int? MaxParallel = null);

/// <summary>POST /v1/migrations/preflight: what a migration of the VM would do (nothing starts).</summary>
public sealed record PreflightCreate(string VmId, string? DestinationHost = null, string? Policy = null, OrchestrationMode? Mode = null, int? SampleMs = null);
