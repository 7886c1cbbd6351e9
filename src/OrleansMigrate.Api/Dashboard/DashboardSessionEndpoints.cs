using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OrleansMigrate.Api.Http;
using OrleansMigrate.Api.Security;

namespace OrleansMigrate.Api.Dashboard;

/// <summary>
/// <c>POST /v1/session</c> opens a dashboard session for the bearer caller and sets its cookie (HttpOnly,
/// SameSite=Strict, Secure over HTTPS, Path=/dashboard, Max-Age = the session's lifetime); <c>DELETE /v1/session</c>
/// ends every dashboard session of the caller and clears the cookie. Both take any valid key or token (viewer and up):
/// the role is checked where the session is used, so a viewer's session is refused by the dashboard with 403. Mapped only
/// when the dashboard is mounted. Not idempotency-keyed: a repeated POST opens another session, which is harmless.
/// </summary>
public static class DashboardSessionEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/session", (HttpContext c, DashboardSessions sessions) => Open(c, sessions))
            .WithTags("session").WithName("OpenDashboardSession").Produces(StatusCodes.Status204NoContent).RequireAuthorization(ApiRoles.ReadPolicy);
        v1.MapDelete("/session", (HttpContext c, DashboardSessions sessions) =>
            {
                sessions.RemoveAll(c.User.Identity?.Name ?? "");
                c.Response.Cookies.Delete(DashboardSessionHandler.CookieName, CookieOptions(c, null));
                c.Response.Headers.CacheControl = "no-store";
                return Results.NoContent();
            })
            .WithTags("session").WithName("EndDashboardSessions").Produces(StatusCodes.Status204NoContent).RequireAuthorization(ApiRoles.ReadPolicy);
    }

    private static IResult Open(HttpContext c, DashboardSessions sessions)
    {
        var name = c.User.Identity?.Name ?? "anonymous";
        var role = ApiRoles.All.LastOrDefault(c.User.IsInRole) ?? ApiRoles.Viewer;
        // A JWT's expiry (the JWT handler puts it in the ticket); an API key has none.
        var credentialExpires = c.Features.Get<IAuthenticateResultFeature>()?.AuthenticateResult?.Properties?.ExpiresUtc;
        if (sessions.Create(name, role, credentialExpires) is not { } session)
        {
            return new ProblemResult(new ApiProblem(StatusCodes.Status503ServiceUnavailable, "unavailable", null,
                $"{DashboardSessions.MaxSessions} dashboard sessions are open on this API process; try again when some have expired"));
        }

        c.Response.Cookies.Append(DashboardSessionHandler.CookieName, session.Id, CookieOptions(c, session.Expires - DateTimeOffset.UtcNow));
        c.Response.Headers.CacheControl = "no-store";
        return Results.NoContent();
    }

    private static CookieOptions CookieOptions(HttpContext c, TimeSpan? maxAge) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = c.Request.IsHttps,
        Path = OmigDashboard.Path,
        MaxAge = maxAge is { } age ? TimeSpan.FromSeconds(Math.Max(1, Math.Floor(age.TotalSeconds))) : null,
        IsEssential = true,
    };
}

/// <summary>An <see cref="ApiProblem"/> as a minimal-API result.</summary>
internal sealed class ProblemResult(ApiProblem problem) : IResult
{
    public ApiProblem Problem { get; } = problem;

    public Task ExecuteAsync(HttpContext httpContext) => Problem.WriteAsync(httpContext);
}
