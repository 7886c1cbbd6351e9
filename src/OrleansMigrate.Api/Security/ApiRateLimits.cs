using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Http;

namespace OrleansMigrate.Api.Security;

/// <summary>
/// <see cref="ApiRateLimitOptions"/> as ASP.NET Core's rate limiter: one token bucket per caller identity, checked after
/// authentication (so the bucket is the caller's, not the address's). Over the limit: 429 problem+json with
/// <c>Retry-After</c> in whole seconds; nothing is called.
/// </summary>
public static class ApiRateLimits
{
    public static IServiceCollection AddOmigRateLimits(this IServiceCollection services, OmigApiOptions options)
    {
        var limit = options.RateLimit;
        if (!limit.Enabled)
        {
            return services;
        }

        services.AddRateLimiter(o =>
        {
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(c => RateLimitPartition.GetTokenBucketLimiter(Caller(c), _ =>
                new TokenBucketRateLimiterOptions
                {
                    TokenLimit = limit.Burst,
                    TokensPerPeriod = limit.RequestsPerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                }));
            o.OnRejected = async (context, _) =>
            {
                var retry = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 1;
                context.HttpContext.Response.Headers.RetryAfter = retry.ToString(CultureInfo.InvariantCulture);
                await new ApiProblem(StatusCodes.Status429TooManyRequests, "rate_limited", "authorization",
                    $"more than {limit.RequestsPerSecond} calls per second (burst {limit.Burst}) from this caller; retry after {retry} s").WriteAsync(context.HttpContext);
            };
        });
        return services;
    }

    /// <summary>After authentication: the limiter keys on the caller's name.</summary>
    public static WebApplication UseOmigRateLimits(this WebApplication app, OmigApiOptions options)
    {
        if (options.RateLimit.Enabled)
        {
            app.UseRateLimiter();
        }

        return app;
    }

    private static string Caller(HttpContext c) =>
        c.User.FindFirstValue(ClaimTypes.Name) is { } name ? "name:" + name : "ip:" + (c.Connection.RemoteIpAddress?.ToString() ?? "-");
}
