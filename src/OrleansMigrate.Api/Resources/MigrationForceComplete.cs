using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OrleansMigrate.Api.Http;
using OrleansMigrate.Api.Security;
using OrleansMigrate.Errors;
using OrleansMigrate.Migration;
using static OrleansMigrate.Api.Resources.FleetEndpoints;

namespace OrleansMigrate.Api.Resources;

/// <summary>
/// POST /v1/migrations/{id}/force-complete (Nova's <c>force_complete</c>): asks a migration in pre-copy to stop iterating and
/// switch over at the end of the data plane's current round, accepting a longer downtime. 202 means the request is stored
/// with the migration (the answer is the status at that moment; its <c>switchover_reason</c> says <c>forced</c> once the
/// switchover happened because of it, or <c>converged</c> / <c>limit</c> when pre-copy stopped on its own first). A
/// migration not in pre-copy (queued, preparing, switching over, committed, ended, being rolled back) is 409 saying which.
/// Cloud services may ask (they request migrations), operators too; idempotency keys and the audit log apply as to every
/// mutating call.
/// </summary>
public static class MigrationForceComplete
{
    public static void Map(RouteGroupBuilder migrations) =>
        migrations.MapPost("/{migrationId}/force-complete", (HttpContext c, string migrationId) => ApiCall.MutateAsync(c, async _ =>
            {
                var who = c.User.Identity?.Name ?? "anonymous";
                try
                {
                    var status = await Omig(c).ForceCompleteMigrationAsync(Ids.Require("migration_id", migrationId), $"api:{who}");
                    return new ApiAnswer(StatusCodes.Status202Accepted, status, $"/v1/migrations/{status.MigrationId}");
                }
                catch (OmigException ex) when (ex.Code is OmigErrorCode.Conflict or OmigErrorCode.NotFound && ex.Field == "migration")
                {
                    // The cluster names its own field; the API's is the path parameter, as for cancel.
                    throw new OmigException(ex.Code, "migration_id", ex.Reason);
                }
            }))
            .WithName("ForceCompleteMigration").Produces<MigrationStatus>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status409Conflict).RequireAuthorization(ApiRoles.CloudPolicy);
}
