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
/// /v1/migrations: a request answers 202 with <c>Location</c> at once (the migration runs in the cluster); DELETE asks for a
/// rollback, refused with 409 once the destination has resumed (the commit point: after it the migration only rolls
/// forward). A 202 to DELETE means the rollback was asked for: one that reaches a migration inside its switchover, after
/// the grain's last cancel check, is overtaken by the commit; the migration's end phase is the answer. Force-complete is <see cref="MigrationForceComplete"/>.
/// </summary>
public static class MigrationEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        var migrations = v1.MapGroup("/migrations").WithTags("migrations");
        migrations.MapPost("/", (HttpContext c, CancellationToken _) => ApiCall.MutateAsync(c, async body =>
            {
                var create = RequestBody.Parse<MigrationCreate>(c, body);
                Ids.Require("vm_id", create.VmId);
                if (create.DestinationHost is not null)
                {
                    Ids.Require("destination_host", create.DestinationHost);
                }

                if (create.Policy is not null)
                {
                    Ids.RequireName("policy", create.Policy);
                }

                var who = c.User.Identity?.Name ?? "anonymous";
                var status = await Omig(c).MigrateAsync(new MigrationRequest(create.VmId, create.DestinationHost, create.Policy,
                    create.Mode ?? OrchestrationMode.Parallel, MigrationPriority.User, $"api:{who}", Cold: create.Cold));
                return new ApiAnswer(StatusCodes.Status202Accepted, status, $"/v1/migrations/{status.MigrationId}");
            }))
            .WithName("CreateMigration").Accepts<MigrationCreate>("application/json").Produces<MigrationStatus>(StatusCodes.Status202Accepted)
            .RequireAuthorization(ApiRoles.CloudPolicy);
        migrations.MapGet("/", (HttpContext c, CancellationToken _) => ApiCall.ReadAsync(c, async () =>
                Paging.Take(c, await ListFilters.MigrationsAsync(c, Omig(c)), m => m.MigrationId)))
            .WithName("ListMigrations").Produces<Page<MigrationStatus>>().RequireAuthorization(ApiRoles.ReadPolicy);
        migrations.MapGet("/{migrationId}", (HttpContext c, string migrationId) => ApiCall.ReadAsync(c, async () =>
                await Omig(c).GetMigrationAsync(Ids.Require("migration_id", migrationId))))
            .WithName("GetMigration").Produces<MigrationStatus>().RequireAuthorization(ApiRoles.ReadPolicy);
        migrations.MapDelete("/{migrationId}", (HttpContext c, string migrationId) => ApiCall.MutateAsync(c, async _ =>
                new ApiAnswer(StatusCodes.Status202Accepted, await CancelAsync(c, Ids.Require("migration_id", migrationId)))))
            .WithName("CancelMigration").Produces<MigrationStatus>(StatusCodes.Status202Accepted).RequireAuthorization(ApiRoles.OperatorPolicy);
        MigrationForceComplete.Map(migrations);
        migrations.MapGet("/{migrationId}/events", (HttpContext c, string migrationId) => MigrationEvents.StreamAsync(c, migrationId))
            .WithName("MigrationEvents").Produces(StatusCodes.Status200OK, contentType: "text/event-stream").RequireAuthorization(ApiRoles.ReadPolicy);
    }

    /// <summary>A rollback request, or 409 saying why it cannot be one: ended already, or past the commit point.</summary>
    private static async Task<MigrationStatus> CancelAsync(HttpContext c, string id)
    {
        var before = await Omig(c).GetMigrationAsync(id);
        if (before.IsEnded)
        {
            throw OmigException.Conflict("migration_id", $"migration '{id}' has ended already ({Naming.EnumNames.Of(before.Phase)})");
        }

        var who = c.User.Identity?.Name ?? "anonymous";
        var after = await Omig(c).CancelMigrationAsync(id, $"cancelled through the API by {who}");
        if (after.Phase is MigrationPhase.PostMigration or MigrationPhase.Completed)
        {
            throw OmigException.Conflict("migration_id",
                $"migration '{id}' is past the commit point ({Naming.EnumNames.Of(after.Phase)}): the VM runs on '{after.DestinationHost}' and the migration can only roll forward");
        }

        return after;
    }
}
