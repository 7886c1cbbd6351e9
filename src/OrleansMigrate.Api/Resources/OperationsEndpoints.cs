using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Api.AuditLog;
using OrleansMigrate.Api.Http;
using OrleansMigrate.Api.Security;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using static OrleansMigrate.Api.Resources.FleetEndpoints;

namespace OrleansMigrate.Api.Resources;

/// <summary>/v1/policies, /v1/audit (one invariant-audit pass, as <c>omig audit</c>) and /v1/audit-log (the API's own log).</summary>
public static class OperationsEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/policies", (HttpContext c, CancellationToken _) => ApiCall.ReadAsync(c, async () => Paging.Take(c, await Omig(c).ListPoliciesAsync(), p => p.Name)))
            .WithTags("policies").WithName("ListPolicies").Produces<Page<PolicyInfo>>().RequireAuthorization(ApiRoles.ReadPolicy);

        // A pass reads every component of the fleet: an operator's call, and not cached.
        v1.MapPost("/audit", (HttpContext c, CancellationToken _) => ApiCall.ReadAsync(c, async () => await FleetAuditor.AuditAsync(Omig(c), cancellationToken: c.RequestAborted)))
            .WithTags("audit").WithName("RunAudit").Produces<AuditReport>().RequireAuthorization(ApiRoles.OperatorPolicy);

        v1.MapGet("/audit-log", (HttpContext c, CancellationToken _) => ApiCall.ReadAsync(c, async () =>
            {
                var entries = await c.RequestServices.GetRequiredService<IGrainFactory>().GetGrain<IApiAuditLogGrain>(IApiAuditLogGrain.Key).ListAsync();
                return Paging.Take(c, entries, e => e.Sequence.ToString("D20", CultureInfo.InvariantCulture));
            }))
            .WithTags("audit").WithName("ListAuditLog").Produces<Page<ApiAuditEntry>>().RequireAuthorization(ApiRoles.OperatorPolicy);
    }
}
