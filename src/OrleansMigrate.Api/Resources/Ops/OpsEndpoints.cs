using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OrleansMigrate.Api.Http;
using OrleansMigrate.Api.Security;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;
using static OrleansMigrate.Api.Resources.FleetEndpoints;

namespace OrleansMigrate.Api.Resources.Ops;

/// <summary>
/// The fleet operations of <c>omig host drain</c>, <c>omig campaign</c>, <c>omig plan</c> and <c>omig migrate --preflight</c>
/// over HTTP, mapped one to one onto <see cref="Client.OmigClient"/>. Drains, campaigns and plan applications run in the
/// cluster: they answer 202 with a <c>Location</c> to poll. A plan is computed in the request (201: it is a new resource,
/// complete when answered). A preflight changes nothing and answers its verdict.
/// </summary>
public static class OpsEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        MapDrains(v1.MapGroup("/hosts/{hostId}/drain").WithTags("drains"));
        MapCampaigns(v1.MapGroup("/campaigns").WithTags("campaigns"));
        MapPlans(v1.MapGroup("/plans").WithTags("plans"));
        MapPower(v1.MapGroup("/power").WithTags("power"));

        v1.MapPost("/migrations/preflight", (HttpContext c, CancellationToken _) => ApiCall.MutateAsync(c, async body =>
            {
                var p = RequestBody.Parse<PreflightCreate>(c, body);
                Ids.Require("vm_id", p.VmId);
                if (p.DestinationHost is not null)
                {
                    Ids.Require("destination_host", p.DestinationHost);
                }

                if (p.Policy is not null)
                {
                    Ids.RequireName("policy", p.Policy);
                }

                var request = new MigrationRequest(p.VmId, p.DestinationHost, p.Policy, p.Mode ?? OrchestrationMode.Parallel, MigrationPriority.User, $"api:{Who(c)}");
                await Omig(c).GetVmAsync(p.VmId); // 404 naming vm_id for an unknown VM
                var report = await FieldNames.AsAsync(FieldNames.Preflight, () => Omig(c).PreflightAsync(request, p.SampleMs ?? 1000));
                return new ApiAnswer(StatusCodes.Status200OK, report);
            }))
            .WithTags("migrations").WithName("PreflightMigration").Accepts<PreflightCreate>("application/json").Produces<PreflightReport>()
            .RequireAuthorization(ApiRoles.CloudPolicy);
    }

    private static void MapDrains(RouteGroupBuilder drain)
    {
        drain.MapPost("/", (HttpContext c, string hostId) => ApiCall.MutateAsync(c, async body =>
            {
                var id = Ids.Require("host_id", hostId);
                var create = body.Length == 0 ? new DrainCreate() : RequestBody.Parse<DrainCreate>(c, body);
                if (create.Policy is not null)
                {
                    Ids.RequireName("policy", create.Policy);
                }

                var status = await FieldNames.AsAsync(FieldNames.Drain, () => Omig(c).DrainHostAsync(id, create.ToOptions($"api:{Who(c)}")));
                return new ApiAnswer(StatusCodes.Status202Accepted, status, $"/v1/hosts/{id}/drain");
            }))
            .WithName("StartDrain").Produces<DrainStatus>(StatusCodes.Status202Accepted)
            .RequireAuthorization(ApiRoles.OperatorPolicy);
        drain.MapGet("/", (HttpContext c, string hostId) => ApiCall.ReadAsync(c, async () =>
                await FieldNames.AsAsync(FieldNames.Drain, () => Omig(c).GetDrainAsync(Ids.Require("host_id", hostId)))))
            .WithName("GetDrain").Produces<DrainStatus>().RequireAuthorization(ApiRoles.ReadPolicy);
        drain.MapGet("/history", (HttpContext c, string hostId) => ApiCall.ReadAsync(c, async () =>
                Paging.Take(c, await Omig(c).GetDrainHistoryAsync(Ids.Require("host_id", hostId)),
                    d => d.StartedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture))))
            .WithName("ListDrainHistory").Produces<Page<DrainStatus>>().RequireAuthorization(ApiRoles.ReadPolicy);
        drain.MapPost("/abort", (HttpContext c, string hostId) => ApiCall.MutateAsync(c, async body =>
            {
                var id = Ids.Require("host_id", hostId);
                var reason = Reason(c, body, "drain aborted");
                var before = await FieldNames.AsAsync(FieldNames.Drain, () => Omig(c).GetDrainAsync(id));
                if (before.IsEnded)
                {
                    throw Errors.OmigException.Conflict("host_id", $"the drain of host '{id}' has ended already ({Naming.EnumNames.Of(before.State)})");
                }

                var status = await FieldNames.AsAsync(FieldNames.Drain, () => Omig(c).AbortDrainAsync(id, reason));
                return new ApiAnswer(StatusCodes.Status202Accepted, status, $"/v1/hosts/{id}/drain");
            }))
            .WithName("AbortDrain").Produces<DrainStatus>(StatusCodes.Status202Accepted)
            .RequireAuthorization(ApiRoles.OperatorPolicy);
    }

    /// <summary>The answers are <see cref="CampaignStatus"/> (a page of them for the list).</summary>
    private static void MapCampaigns(RouteGroupBuilder campaigns)
    {
        campaigns.MapPost("/", (HttpContext c, CancellationToken _) => ApiCall.MutateAsync(c, async body =>
            {
                var create = RequestBody.Parse<CampaignCreate>(c, body);
                if (create.CampaignId is not null)
                {
                    Ids.Require("campaign_id", create.CampaignId);
                }

                var status = await FieldNames.AsAsync(FieldNames.Campaign, () => Omig(c).StartCampaignAsync(create.ToSpec($"api:{Who(c)}"), create.CampaignId));
                return new ApiAnswer(StatusCodes.Status202Accepted, status, $"/v1/campaigns/{status.CampaignId}");
            }))
            .WithName("StartCampaign").Accepts<CampaignCreate>("application/json").Produces<CampaignStatus>(StatusCodes.Status202Accepted)
            .RequireAuthorization(ApiRoles.OperatorPolicy);
        campaigns.MapGet("/", (HttpContext c, CancellationToken _) => ApiCall.ReadAsync(c, async () =>
                Paging.Take(c, await Omig(c).ListCampaignsAsync(), s => s.CampaignId)))
            .WithName("ListCampaigns").Produces<Page<CampaignStatus>>().RequireAuthorization(ApiRoles.ReadPolicy);
        campaigns.MapGet("/{campaignId}", (HttpContext c, string campaignId) => ApiCall.ReadAsync(c, async () =>
                await FieldNames.AsAsync(FieldNames.Campaign, () => Omig(c).GetCampaignAsync(Ids.Require("campaign_id", campaignId)))))
            .WithName("GetCampaign").Produces<CampaignStatus>().RequireAuthorization(ApiRoles.ReadPolicy);
        campaigns.MapPost("/{campaignId}/pause", (HttpContext c, string campaignId) => ApiCall.MutateAsync(c, async body =>
            {
                var id = Ids.Require("campaign_id", campaignId);
                var reason = Reason(c, body, "campaign paused");
                var status = await FieldNames.AsAsync(FieldNames.Campaign, () => Omig(c).PauseCampaignAsync(id, reason));
                return new ApiAnswer(StatusCodes.Status200OK, status);
            }))
            .WithName("PauseCampaign").Produces<CampaignStatus>().RequireAuthorization(ApiRoles.OperatorPolicy);
        campaigns.MapPost("/{campaignId}/resume", (HttpContext c, string campaignId) => ApiCall.MutateAsync(c, async _ =>
            {
                var id = Ids.Require("campaign_id", campaignId);
                return new ApiAnswer(StatusCodes.Status200OK, await FieldNames.AsAsync(FieldNames.Campaign, () => Omig(c).ResumeCampaignAsync(id)));
            }))
            .WithName("ResumeCampaign").Produces<CampaignStatus>().RequireAuthorization(ApiRoles.OperatorPolicy);
        campaigns.MapPost("/{campaignId}/abort", (HttpContext c, string campaignId) => ApiCall.MutateAsync(c, async body =>
            {
                var id = Ids.Require("campaign_id", campaignId);
                var reason = Reason(c, body, "campaign aborted");
                var status = await FieldNames.AsAsync(FieldNames.Campaign, () => Omig(c).CancelCampaignAsync(id, reason));
                return new ApiAnswer(StatusCodes.Status202Accepted, status, $"/v1/campaigns/{id}");
            }))
            .WithName("AbortCampaign").Produces<CampaignStatus>(StatusCodes.Status202Accepted)
            .RequireAuthorization(ApiRoles.OperatorPolicy);
    }

    private static void MapPlans(RouteGroupBuilder plans)
    {
        plans.MapPost("/defrag", (HttpContext c, CancellationToken _) => ApiCall.MutateAsync(c, async body =>
            {
                var create = RequestBody.Parse<DefragPlanCreate>(c, body);
                var plan = await FieldNames.AsAsync(FieldNames.Plan, () =>
                    Omig(c).PlanDefragAsync(create.Vcpus, create.MemoryMib, create.Count ?? 1, create.RequiredCpuFeatures ?? []));
                return new ApiAnswer(StatusCodes.Status201Created, plan, $"/v1/plans/{plan.PlanId}");
            }))
            .WithName("CreateDefragPlan").Accepts<DefragPlanCreate>("application/json").Produces<FleetPlanStatus>(StatusCodes.Status201Created)
            .RequireAuthorization(ApiRoles.OperatorPolicy);
        plans.MapPost("/balance", (HttpContext c, CancellationToken _) => ApiCall.MutateAsync(c, async body =>
            {
                var create = RequestBody.Parse<BalancePlanCreate>(c, body);
                var plan = await FieldNames.AsAsync(FieldNames.Plan, () => Omig(c).PlanBalanceAsync(create.MaxUtil, create.CoolDownMinutes ?? 60));
                return new ApiAnswer(StatusCodes.Status201Created, plan, $"/v1/plans/{plan.PlanId}");
            }))
            .WithName("CreateBalancePlan").Accepts<BalancePlanCreate>("application/json").Produces<FleetPlanStatus>(StatusCodes.Status201Created)
            .RequireAuthorization(ApiRoles.OperatorPolicy);
        plans.MapGet("/{planId}", (HttpContext c, string planId) => ApiCall.ReadAsync(c, async () =>
                await FieldNames.AsAsync(FieldNames.Plan, () => Omig(c).GetPlanAsync(Ids.Require("plan_id", planId)))))
            .WithName("GetPlan").Produces<FleetPlanStatus>().RequireAuthorization(ApiRoles.ReadPolicy);
        plans.MapPost("/{planId}/apply", (HttpContext c, string planId) => ApiCall.MutateAsync(c, async body =>
            {
                var id = Ids.Require("plan_id", planId);
                var apply = body.Length == 0 ? new PlanApply() : RequestBody.Parse<PlanApply>(c, body);
                var before = await FieldNames.AsAsync(FieldNames.Plan, () => Omig(c).GetPlanAsync(id));
                if (before.State != FleetPlanState.Planned)
                {
                    throw Errors.OmigException.Conflict("plan_id", $"plan '{id}' is {Naming.EnumNames.Of(before.State)}: only a plan not yet applied can be applied");
                }

                var plan = await FieldNames.AsAsync(FieldNames.Plan, () => Omig(c).ApplyPlanAsync(id, apply.MaxParallel ?? 4));
                return new ApiAnswer(StatusCodes.Status202Accepted, plan, $"/v1/plans/{id}");
            }))
            .WithName("ApplyPlan").Produces<FleetPlanStatus>(StatusCodes.Status202Accepted)
            .RequireAuthorization(ApiRoles.OperatorPolicy);
    }

    /// <summary><c>omig power plan|apply|show</c> and <c>omig host power</c>: the power manager is one resource, <c>/v1/power</c>.</summary>
    private static void MapPower(RouteGroupBuilder power)
    {
        power.MapGet("", (HttpContext c, CancellationToken _) => ApiCall.ReadAsync(c, async () => (object)await Omig(c).GetPowerAsync()))
            .WithName("GetPower").Produces<PowerStatus>().RequireAuthorization(ApiRoles.ReadPolicy);
        power.MapPost("/plan", (HttpContext c, CancellationToken _) => ApiCall.MutateAsync(c, async body =>
            {
                var create = body.Length == 0 ? new PowerPlanCreate() : RequestBody.Parse<PowerPlanCreate>(c, body);
                var plan = await Omig(c).PlanPowerAsync(create.HeadroomPercent ?? 20, create.Domain);
                return new ApiAnswer(StatusCodes.Status201Created, plan, "/v1/power");
            }))
            .WithName("CreatePowerPlan").Accepts<PowerPlanCreate>("application/json").Produces<PowerPlanStatus>(StatusCodes.Status201Created)
            .RequireAuthorization(ApiRoles.OperatorPolicy);
        power.MapPost("/apply", (HttpContext c, CancellationToken _) => ApiCall.MutateAsync(c, async _ =>
                new ApiAnswer(StatusCodes.Status202Accepted, await Omig(c).ApplyPowerPlanAsync(), "/v1/power")))
            .WithName("ApplyPowerPlan").Produces<PowerPlanStatus>(StatusCodes.Status202Accepted)
            .RequireAuthorization(ApiRoles.OperatorPolicy);
        power.MapPost("/hosts/{hostId}", (HttpContext c, string hostId) => ApiCall.MutateAsync(c, async body =>
            {
                var id = Ids.Require("host_id", hostId);
                var set = RequestBody.Parse<HostPowerSet>(c, body);
                var state = set.State?.Trim().ToLowerInvariant() switch
                {
                    "on" => Fleet.HostPowerState.On,
                    "off" => Fleet.HostPowerState.Off,
                    _ => throw new ApiProblemException(ApiProblem.Invalid("state", "must be on or off")),
                };
                return new ApiAnswer(StatusCodes.Status200OK, await Omig(c).SetHostPowerAsync(id, state, $"api ({Who(c)})"), $"/v1/hosts/{id}");
            }))
            .WithName("SetHostPower").Accepts<HostPowerSet>("application/json").Produces<Fleet.HostRecord>()
            .RequireAuthorization(ApiRoles.OperatorPolicy);
    }

    private static string Who(HttpContext c) => c.User.Identity?.Name ?? "anonymous";

    /// <summary>The reason of an optional <see cref="ReasonBody"/>; without one, what happened and who did it.</summary>
    private static string Reason(HttpContext c, byte[] body, string what)
    {
        var given = body.Length == 0 ? null : RequestBody.Parse<ReasonBody>(c, body).Reason;
        if (given is not null && (string.IsNullOrWhiteSpace(given) || given.Length > 500))
        {
            throw new ApiProblemException(ApiProblem.Invalid("reason", "must be 1-500 characters"));
        }

        return given ?? $"{what} through the API by {Who(c)}";
    }
}
