using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OrleansMigrate.Api.AuditLog;
using OrleansMigrate.Api.Http;
using OrleansMigrate.Api.Metrics;
using OrleansMigrate.Api.Resources;
using OrleansMigrate.Api.Security;
using OrleansMigrate.Client;
using Scalar.AspNetCore;

namespace OrleansMigrate.Api.Hosting;

/// <summary>How a web application carries the API: <c>services.AddOmigApi(options)</c> (an <see cref="IGrainFactory"/> must be
/// registered: the silo's own, or a cluster client's), then <c>app.MapOmigApi()</c>.</summary>
public static class OmigApiExtensions
{
    /// <summary>Registers the API's services; throws <see cref="ArgumentException"/> listing every problem with the options
    /// (no key and no explicit insecure mode among them).</summary>
    public static IServiceCollection AddOmigApi(this IServiceCollection services, OmigApiOptions options)
    {
        if (options.Check() is { Count: > 0 } errors)
        {
            throw new ArgumentException("invalid HTTP API configuration: " + string.Join("; ", errors), nameof(options));
        }

        services.AddSingleton(Options.Create(options));
        services.AddSingleton(sp => new OmigClient(sp.GetRequiredService<IGrainFactory>()));
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(ApiRoles.ReadPolicy, p => p.RequireRole(ApiRoles.Viewer, ApiRoles.CloudService, ApiRoles.Operator))
            .AddPolicy(ApiRoles.CloudPolicy, p => p.RequireRole(ApiRoles.CloudService, ApiRoles.Operator))
            .AddPolicy(ApiRoles.OperatorPolicy, p => p.RequireRole(ApiRoles.Operator));
        services.AddOmigJwt(options).AddOmigRateLimits(options).AddOmigMetrics();
        FleetEvents.FleetEventEndpoints.AddOmigFleetEvents(services);
        // The OpenAPI generator reads these options, not ApiJson's: the same spelling, so the document says what is sent.
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = ApiJson.Options.PropertyNamingPolicy;
            o.SerializerOptions.DictionaryKeyPolicy = ApiJson.Options.DictionaryKeyPolicy;
            o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        });
        services.AddOpenApi("v1", o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "OrleansMigrate control plane";
            document.Info.Description = "Live migration for KVM clouds. Errors are application/problem+json with `code` and `field`; " +
                "mutating calls take an Idempotency-Key; authenticate with Authorization: Bearer KEY.";
            document.Components ??= new Microsoft.OpenApi.OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, Microsoft.OpenApi.IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["api-key"] = new Microsoft.OpenApi.OpenApiSecurityScheme
            {
                Type = Microsoft.OpenApi.SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "An API key: Authorization: Bearer KEY (roles viewer, cloud-service, operator)",
            };
            document.Security ??= [];
            document.Security.Add(new Microsoft.OpenApi.OpenApiSecurityRequirement { [new Microsoft.OpenApi.OpenApiSecuritySchemeReference("api-key", document)] = [] });
            return Task.CompletedTask;
        }));
        return services;
    }

    /// <summary>The middleware (authentication, audit log, authorization) and every endpoint: /v1/…, /openapi/v1.json, /scalar.</summary>
    public static WebApplication MapOmigApi(this WebApplication app)
    {
        app.UseMiddleware<LastResortMiddleware>();
        app.UseAuthentication();
        app.UseOmigRateLimits(app.Services.GetRequiredService<IOptions<OmigApiOptions>>().Value);
        app.UseMiddleware<AuditLogMiddleware>();
        // Before routing: a body that is not JSON gets a 415 problem here, where routing would pick the 404 fallback
        // (the endpoints declare application/json for the OpenAPI document, and routing honours that).
        app.Use(async (context, next) =>
        {
            var request = context.Request;
            if (request.Path.StartsWithSegments("/v1", StringComparison.Ordinal) && (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
                && !(request.ContentType ?? "").StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            {
                await new ApiProblem(StatusCodes.Status415UnsupportedMediaType, "invalid_argument", "content-type",
                    $"the body must be application/json, not '{RequestBody.Printable(request.ContentType ?? "(none)")}'").WriteAsync(context);
                return;
            }

            await next(context);
        });
        app.UseRouting();
        app.UseAuthorization();
        app.UseMiddleware<ResourceVersions>();

        var v1 = app.MapGroup("/v1");
        foreach (var status in (int[])[400, 401, 403, 404, 409, 413, 422, 503])
        {
            v1.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(ApiProblem.ProblemDocument), [ApiProblem.ContentType]));
        }

        FleetEndpoints.Map(v1);
        MigrationEndpoints.Map(v1);
        OperationsEndpoints.Map(v1);
        Resources.Ops.OpsEndpoints.Map(v1);
        SessionEndpoints.Map(v1);
        DrainListEndpoints.Map(v1);
        FleetEvents.FleetEventEndpoints.Map(v1);
        OperatorConsole.ConsoleEndpoints.Map(app);
        app.MapOmigMetrics(app.Services.GetRequiredService<IOptions<OmigApiOptions>>().Value);

        app.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
        app.MapScalarApiReference("/scalar").AllowAnonymous();
        app.MapFallback((HttpContext c) => new ApiProblem(StatusCodes.Status404NotFound, "not_found", "path",
            $"no endpoint at {c.Request.Method} {RequestBody.Printable(c.Request.Path.ToString())}; the API's endpoints are listed at /openapi/v1.json").WriteAsync(c))
            .ExcludeFromDescription().AllowAnonymous();
        return app;
    }

    /// <summary>Every /v1 route the API maps, as <c>METHOD /path</c> (the OpenAPI test checks each appears in the document).</summary>
    public static IReadOnlyList<string> MappedRoutes(IServiceProvider services) =>
        [.. services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/v1", StringComparison.Ordinal) == true)
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? []).Select(m => $"{m} {e.RoutePattern.RawText!.TrimEnd('/')}"))];
}
