using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Http;
using OrleansMigrate.Api.Security;

namespace OrleansMigrate.Api.Dashboard;

/// <summary>
/// The dashboard's session cookie as an authentication scheme, accepted only under <see cref="OmigDashboard.Path"/>. A
/// policy scheme (<see cref="SelectorScheme"/>, the default once the dashboard is on) sends a request under
/// <c>/dashboard</c> that carries no <c>Authorization</c> header to <see cref="DashboardSessionHandler"/>, and everything
/// else to the bearer schemes as before. So <c>/v1</c> never reads the cookie: the API stays bearer-only and needs no CSRF
/// defence, while the dashboard (GET requests only) also has <c>SameSite=Strict</c> on its cookie.
/// </summary>
public static class DashboardSessionAuthentication
{
    public const string SelectorScheme = "OmigBearerOrDashboardSession";

    public static IServiceCollection AddOmigDashboardSessions(this IServiceCollection services, OmigApiOptions options)
    {
        // The scheme the API used before: JWT-or-key when JWT is configured, else keys (ApiJwtAuthentication).
        var bearer = options.Jwt.Enabled ? ApiJwtAuthentication.SelectorScheme : ApiKeyAuthenticationHandler.SchemeName;
        // With --api-insecure-no-auth every caller is the operator "anonymous", the dashboard's callers too.
        var open = options.InsecureNoAuth && options.Keys.Count == 0 && !options.Jwt.Enabled;
        services.AddSingleton(_ => new DashboardSessions());
        services.AddAuthentication(SelectorScheme)
            .AddPolicyScheme(SelectorScheme, null, o => o.ForwardDefaultSelector = c =>
                !open && OmigDashboard.IsUnder(c.Request.Path) && string.IsNullOrEmpty(c.Request.Headers.Authorization.ToString())
                    ? DashboardSessionHandler.SchemeName
                    : bearer)
            .AddScheme<AuthenticationSchemeOptions, DashboardSessionHandler>(DashboardSessionHandler.SchemeName, null);
        return services;
    }
}

/// <summary>
/// <c>Cookie: omig_dashboard=ID</c> → the caller and role of the session <c>POST /v1/session</c> opened
/// (<see cref="DashboardSessions"/>). Under <c>/dashboard</c> only, whatever scheme selection says. Refusals are
/// problem+json: 401 without a cookie or with an expired one (saying how to get one), 403 for a role below operator.
/// </summary>
public sealed class DashboardSessionHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory logger,
    UrlEncoder encoder,
    DashboardSessions sessions) : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, logger, encoder)
{
    public const string SchemeName = "OmigDashboardSession";

    public const string CookieName = "omig_dashboard";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!OmigDashboard.IsUnder(Request.Path))
        {
            return Task.FromResult(AuthenticateResult.NoResult()); // never for /v1 or anything else
        }

        var id = Request.Cookies[CookieName];
        if (string.IsNullOrEmpty(id))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (sessions.Find(id) is not { } session)
        {
            return Task.FromResult(AuthenticateResult.Fail("the dashboard session has expired or was ended; open the dashboard again from the operator console"));
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, session.Name), new Claim(ClaimTypes.Role, session.Role)], SchemeName);
        var properties = new AuthenticationProperties { ExpiresUtc = session.Expires };
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), properties, SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        await new ApiProblem(StatusCodes.Status401Unauthorized, "unauthenticated", "cookie", result.Failure?.Message
            ?? "the dashboard needs an operator's session: open it with the operator console's Dashboard link (or POST /v1/session " +
               "with Authorization: Bearer KEY and send the omig_dashboard cookie it sets)").WriteAsync(Context);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var role = Context.User.FindFirstValue(ClaimTypes.Role) ?? "none";
        return new ApiProblem(StatusCodes.Status403Forbidden, "forbidden", "authorization",
            $"the session's role '{role}' may not open the dashboard (operator only)").WriteAsync(Context);
    }
}
