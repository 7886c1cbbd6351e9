using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Dashboard;
using Orleans.Hosting;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Http;
using OrleansMigrate.Api.Security;

namespace OrleansMigrate.Api.Dashboard;

/// <summary>
/// The Orleans dashboard (<c>Microsoft.Orleans.Dashboard</c>), opt-in: <c>omig-silo --dashboard</c> runs its grains and
/// grain-call profiler (<see cref="AddOmigDashboard"/>), and an API started with the dashboard on (the silo's own
/// <c>--api-port</c>, or <c>omig-api --dashboard</c>) serves it at <see cref="Path"/> to operators, with the browser session
/// of <see cref="DashboardSessionEndpoints"/>.
/// <para>
/// The dashboard's endpoints resolve its services (<c>IDashboardClient</c>, its asset provider, its options) from the web
/// application that maps them. Our API is its own web application beside the silo or cluster client, with its own
/// container, so the dashboard's client half — <c>AddDashboard(IClientBuilder)</c>, which registers exactly those services
/// over an <see cref="IGrainFactory"/> — is applied to the web application's services through
/// <see cref="WebApplicationServices"/>. Silo-hosted and <c>omig-api</c> alike, the pages then call the dashboard grains
/// that the silos' <c>AddDashboard(ISiloBuilder)</c> provides.
/// </para>
/// <para>
/// Its live log stream (<c>/dashboard/Trace</c>) is turned off (<see cref="DashboardOptions.HideTrace"/>): the API's
/// logging is the host's, not the dashboard's logger provider, so the stream would stay empty; the logs are where the
/// silo writes them.
/// </para>
/// </summary>
public static class OmigDashboard
{
    /// <summary>Where the dashboard is mounted (its pages at <c>/dashboard/</c>).</summary>
    public const string Path = "/dashboard";

    /// <summary>The silo half: the dashboard grains, its silo grain service and the grain-call profiler (a filter on every
    /// grain call — the reason it is off unless asked for).</summary>
    public static ISiloBuilder AddOmigDashboard(this ISiloBuilder silo) => silo.AddDashboard(Configure);

    /// <summary>Whether a request path is the dashboard's (routing ignores case, so this does too).</summary>
    public static bool IsUnder(PathString path) => path.StartsWithSegments(Path, StringComparison.OrdinalIgnoreCase);

    /// <summary>The web application's half: the dashboard's client services, the session store and scheme.</summary>
    public static IServiceCollection AddOmigDashboardApi(this IServiceCollection services, OmigApiOptions options)
    {
        new WebApplicationServices(services).AddDashboard(Configure);
        services.AddSingleton(new DashboardMount(Path + "/"));
        return services.AddOmigDashboardSessions(options);
    }

    /// <summary>Maps <c>/dashboard/…</c> (operators only, not in the OpenAPI document) and <c>/v1/session</c>. Call after
    /// <see cref="OmigApiExtensions.MapOmigApi"/>, which sets up authentication and authorization.</summary>
    public static WebApplication MapOmigDashboard(this WebApplication app)
    {
        DashboardSessionEndpoints.Map(app.MapGroup("/v1"));
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("OrleansMigrate.Api.Dashboard");
        app.MapOrleansDashboard(routePrefix: Path)
            .RequireAuthorization(ApiRoles.OperatorPolicy)
            .ExcludeFromDescription()
            .AddEndpointFilter(async (context, next) =>
            {
                var headers = context.HttpContext.Response.Headers;
                headers.XContentTypeOptions = "nosniff";
                headers.XFrameOptions = "DENY";
                headers["Referrer-Policy"] = "no-referrer";
                try
                {
                    return await next(context);
                }
                catch (Exception ex) when (!context.HttpContext.RequestAborted.IsCancellationRequested)
                {
                    // Typically the silos run without --dashboard: the dashboard grains are missing or cannot activate.
                    log.LogWarning("dashboard: {Path} failed: {Type}: {Message}", RequestBody.Printable(context.HttpContext.Request.Path.ToString()),
                        ex.GetType().Name, ex.Message);
                    return new ProblemResult(new ApiProblem(StatusCodes.Status503ServiceUnavailable, "unavailable", "dashboard",
                        $"the cluster did not answer the dashboard's call ({ex.GetType().Name}); the dashboard needs every silo started " +
                        "with --dashboard (Omig:Dashboard=true)"));
                }
            });
        return app;
    }

    private static void Configure(DashboardOptions options) => options.HideTrace = true;

    /// <summary>An <see cref="IClientBuilder"/> over the web application's services, so the dashboard's client
    /// registration lands in the container its endpoints resolve from.</summary>
    private sealed class WebApplicationServices(IServiceCollection services) : IClientBuilder
    {
        public IServiceCollection Services { get; } = services;

        public IConfiguration Configuration { get; } = new ConfigurationBuilder().Build();
    }
}

/// <summary>Registered when the dashboard is mounted: where (what <c>GET /v1/me</c> tells the console).</summary>
public sealed record DashboardMount(string Url);
