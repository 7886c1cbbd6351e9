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
    private const string Issuer = "https://idp.test";
    private const string Audience = "omig-api";
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    private readonly string _keyFile = Path.Combine(Path.GetTempPath(), $"omig-jwt-{Guid.NewGuid():N}.key");
    private OmigApiServer? _server;

    public async Task InitializeAsync()
    {
        await File.WriteAllBytesAsync(_keyFile, _key);
        _server = await OmigApiServer.StartAsync(fixture.Grains, new OmigApiOptions
        {
            Port = 0,
            Keys = [Key("operator-1", fixture.OperatorKey, ApiRoles.Operator)],
            Jwt = new ApiJwtOptions { Issuer = Issuer, Audience = Audience, SigningKeyFile = _keyFile, RoleClaim = "omig_role" },
        }, NullLoggerFactory.Instance);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        File.Delete(_keyFile);
    }

    private string Token(string role, byte[]? key = null, string audience = Audience, DateTime? expires = null, string roleClaim = "omig_role")
    {
        var exp = expires ?? DateTime.UtcNow.AddMinutes(10);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = audience,
            Subject = new ClaimsIdentity([new Claim("sub", "svc-billing"), new Claim(roleClaim, role)]),
            NotBefore = exp.AddMinutes(-20),
            IssuedAt = exp.AddMinutes(-20),
            Expires = exp,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(key ?? _key), SecurityAlgorithms.HmacSha256),
        });
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
