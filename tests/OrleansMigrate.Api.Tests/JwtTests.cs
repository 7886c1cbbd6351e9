using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Security;
using static OrleansMigrate.Api.Tests.ApiFixture;

namespace OrleansMigrate.Api.Tests;

/// <summary>JWT bearer tokens beside the keys: an API server over the fixture's cluster with a symmetric key from a file,
/// and tokens this test signs itself.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class JwtTests(ApiFixture fixture) : IAsyncLifetime
{
    private readonly TestJwt _jwt = new();
    private OmigApiServer? _server;

    public async Task InitializeAsync()
    {
        _server = await OmigApiServer.StartAsync(fixture.Grains, new OmigApiOptions
        {
            Port = 0,
            Keys = [Key("operator-1", fixture.OperatorKey, ApiRoles.Operator)],
            Jwt = _jwt.Options,
        }, NullLoggerFactory.Instance);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _jwt.Dispose();
    }

    private string Token(string role, byte[]? key = null, string audience = TestJwt.Audience, DateTime? expires = null, string roleClaim = TestJwt.RoleClaim)
    {
        var exp = expires ?? DateTime.UtcNow.AddMinutes(10);
        return _jwt.Token("svc-billing", role, exp.AddMinutes(-20), exp, key, audience, roleClaim);
    }

    private async Task<HttpResponseMessage> GetAsync(string token, string path)
    {
        using var http = new HttpClient { BaseAddress = _server!.Address, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await http.GetAsync(path);
    }

    [Fact]
    public async Task A_valid_token_with_a_role_is_served_and_the_keys_still_work()
    {
        using var ok = await GetAsync(Token(ApiRoles.Viewer), "v1/hosts");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using var operatorCall = await GetAsync(Token(ApiRoles.Operator), "v1/audit-log");
        Assert.Equal(HttpStatusCode.OK, operatorCall.StatusCode);
        using var key = await GetAsync(fixture.OperatorKey, "v1/audit-log");
        Assert.Equal(HttpStatusCode.OK, key.StatusCode);
    }

    [Fact]
    public async Task Expired_wrongly_signed_and_wrong_audience_tokens_are_401_problems()
    {
        using var expired = await GetAsync(Token(ApiRoles.Viewer, expires: DateTime.UtcNow.AddMinutes(-5)), "v1/hosts");
        Assert.Contains("expired", (await Problems.AssertAsync(expired, HttpStatusCode.Unauthorized, "unauthenticated", "authorization")).GetProperty("detail").GetString(), StringComparison.Ordinal);
        using var forged = await GetAsync(Token(ApiRoles.Operator, key: RandomNumberGenerator.GetBytes(32)), "v1/hosts");
        Assert.Contains("signature", (await Problems.AssertAsync(forged, HttpStatusCode.Unauthorized, "unauthenticated", "authorization")).GetProperty("detail").GetString(), StringComparison.Ordinal);
        using var audience = await GetAsync(Token(ApiRoles.Viewer, audience: "someone-else"), "v1/hosts");
        Assert.Contains("audience", (await Problems.AssertAsync(audience, HttpStatusCode.Unauthorized, "unauthenticated", "authorization")).GetProperty("detail").GetString(), StringComparison.Ordinal);
        using var garbage = await GetAsync("not.a.jwt", "v1/hosts");
        await Problems.AssertAsync(garbage, HttpStatusCode.Unauthorized, "unauthenticated", "authorization");
    }

    [Fact]
    public async Task A_role_too_low_or_missing_or_unknown_is_a_403_problem()
    {
        using var viewer = await GetAsync(Token(ApiRoles.Viewer), "v1/audit-log");
        await Problems.AssertAsync(viewer, HttpStatusCode.Forbidden, "forbidden", "authorization");
        using var otherClaim = await GetAsync(Token(ApiRoles.Operator, roleClaim: "role"), "v1/hosts");
        await Problems.AssertAsync(otherClaim, HttpStatusCode.Forbidden, "forbidden", "authorization");
        using var unknown = await GetAsync(Token("root"), "v1/hosts");
        await Problems.AssertAsync(unknown, HttpStatusCode.Forbidden, "forbidden", "authorization");
    }
}
