using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Api.Http;
using OrleansMigrate.Api.Security;

namespace OrleansMigrate.Api.Resources;

/// <summary>
/// GET /v1/me: who the key is and what role it has. A client (the operator console) learns from it which actions to offer,
/// instead of probing with calls that change things; the API still checks every call itself. (The unused token keeps
/// the handler a route handler rather than a bare RequestDelegate, as in the other endpoints, so its metadata applies.)
/// </summary>
public static class SessionEndpoints
{
    public static void Map(RouteGroupBuilder v1) =>
        v1.MapGet("/me", (HttpContext c, CancellationToken _) => ApiCall.ReadAsync(c, () => Task.FromResult<object>(new Caller(
                c.User.Identity?.Name ?? "anonymous",
                c.User.IsInRole(ApiRoles.Operator) ? ApiRoles.Operator : c.User.IsInRole(ApiRoles.CloudService) ? ApiRoles.CloudService : ApiRoles.Viewer,
                c.RequestServices.GetService<Dashboard.DashboardMount>()?.Url))))
            .WithTags("session").WithName("GetCaller").Produces<Caller>().RequireAuthorization(ApiRoles.ReadPolicy);
}

/// <summary>The caller of GET /v1/me: the key's name (the audit log's "who") and its role (viewer, cloud-service, operator).</summary>
/// <param name="Dashboard">Where the Orleans dashboard is mounted (<c>/dashboard/</c>, operators only), or null when it is not.</param>
public sealed record Caller(string Name, string Role, string? Dashboard = null);
