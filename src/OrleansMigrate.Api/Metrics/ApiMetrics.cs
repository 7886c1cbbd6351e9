using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Security;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Api.Metrics;

/// <summary>
/// The Prometheus scrape endpoint <c>/metrics</c>: the migration meter (<see cref="MigrationTelemetry.MeterName"/>, with the
/// KubeVirt-style <c>omig_migration_*</c> instruments) and Orleans' own. Meters are process-wide, so this provider, in the
/// API's web application, sees the instruments of the silo that carries it. Readable with the viewer role (or any higher),
/// or by anyone with <see cref="OmigApiOptions.MetricsAnonymous"/> — Prometheus scrapers often carry no credentials,
/// and the numbers name migration and VM ids but no secret.
/// </summary>
public static class ApiMetrics
{
    public const string Path = "/metrics";

    /// <summary>The meters exported: ours and Orleans'.</summary>
    public static IReadOnlyList<string> Meters { get; } = [MigrationTelemetry.MeterName, "Microsoft.Orleans"];

    public static IServiceCollection AddOmigMetrics(this IServiceCollection services)
    {
        services.AddOpenTelemetry().WithMetrics(m => m.AddMeter([.. Meters]).AddPrometheusExporter(o =>
        {
            // The names stay those in the README and the Grafana dashboard (omig_migration_succeeded, not …_total).
            o.DisableTotalNameSuffixForCounters = true;
            // Every scrape collects afresh: a scrape right after a migration sees it.
            o.ScrapeResponseCacheDurationMilliseconds = 0;
        }));
        return services;
    }

    public static WebApplication MapOmigMetrics(this WebApplication app, OmigApiOptions options)
    {
        var endpoint = app.MapPrometheusScrapingEndpoint(Path);
        if (options.MetricsAnonymous)
        {
            endpoint.AllowAnonymous();
        }
        else
        {
            endpoint.RequireAuthorization(ApiRoles.ReadPolicy);
        }

        return app;
    }
}
