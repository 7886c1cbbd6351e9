using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging.Abstractions;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Security;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>A tiny token bucket per caller: the burst is served, the next call is a 429 problem with Retry-After, and
/// another caller's bucket is untouched.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class RateLimitTests(ApiFixture fixture)
{
    [Fact]
    public async Task Over_the_burst_a_caller_gets_429_with_retry_after_and_others_are_not_limited()
    {
        await using var server = await OmigApiServer.StartAsync(fixture.Grains, new OmigApiOptions
        {
            Port = 0,
            Keys = [Key("viewer-1", fixture.ViewerKey, ApiRoles.Viewer), Key("operator-1", fixture.OperatorKey, ApiRoles.Operator)],
            RateLimit = new ApiRateLimitOptions { RequestsPerSecond = 1, Burst = 3 },
        }, NullLoggerFactory.Instance);
        using var viewer = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        viewer.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fixture.ViewerKey);

        // The bucket holds 3 and refills 1 a second, so within 4 quick calls at least one must be refused (a refill may
        // land between them; 10 calls leave no room for doubt).
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 10 && refused is null; i++)
        {
            var response = await viewer.GetAsync("v1/hosts");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                refused = response;
            }
            else
            {
                response.Dispose();
            }
        }

        Assert.NotNull(refused);
        using (refused)
        {
            Assert.True(statuses.Count(s => s == HttpStatusCode.OK) >= 3, string.Join(",", statuses));
            await Problems.AssertAsync(refused, HttpStatusCode.TooManyRequests, "rate_limited", "authorization");
            var retry = refused.Headers.RetryAfter?.Delta;
            Assert.NotNull(retry);
            Assert.InRange(retry.Value.TotalSeconds, 1, 60);
        }

        using var op = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        op.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fixture.OperatorKey);
        using var other = await op.GetAsync("v1/hosts");
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Fact]
    public void Bad_limits_are_refused_by_the_options_check()
    {
        var errors = new OmigApiOptions { InsecureNoAuth = true, RateLimit = new ApiRateLimitOptions { RequestsPerSecond = -1, Burst = 0 } }.Check();
        Assert.Contains(errors, e => e.Contains("RateLimit:RequestsPerSecond", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("RateLimit:Burst", StringComparison.Ordinal));
    }
}
