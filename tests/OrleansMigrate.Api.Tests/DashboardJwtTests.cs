using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Security;

namespace OrleansMigrate.Api.Tests;

/// <summary>A dashboard session opened with a JWT: it works like a key's, and it never outlives the token (its cookie's
/// Max-Age and the server's expiry are the token's remaining life, not 8 hours). An API server with JWT and the
/// dashboard over <see cref="DashboardFixture"/>'s cluster.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(DashboardCollection.Name)]
public sealed class DashboardJwtTests(DashboardFixture fixture) : IAsyncLifetime
{
    private readonly TestJwt _jwt = new();
    private OmigApiServer? _server;

    public async Task InitializeAsync()
    {
        _server = await OmigApiServer.StartAsync(fixture.Grains, new OmigApiOptions { Port = 0, Jwt = _jwt.Options },
            NullLoggerFactory.Instance, dashboard: true);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _jwt.Dispose();
    }

    [Fact]
    public async Task A_jwt_operators_session_opens_the_dashboard_and_expires_with_the_token()
    {
        var token = _jwt.Token("alice", ApiRoles.Operator, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddMinutes(3));
        var (setCookie, id) = await DashboardFixture.SessionAsync(_server!.Address, token);
        var maxAge = int.Parse(setCookie.Split(';', StringSplitOptions.TrimEntries).Single(a => a.StartsWith("max-age=", StringComparison.OrdinalIgnoreCase))["max-age=".Length..],
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(maxAge, 60, 180); // the token's remaining three minutes, not the 8 h a key's session gets

        using var page = await DashboardFixture.GetWithCookieAsync(_server.Address, "dashboard/", id);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        using var onV1 = await DashboardFixture.GetWithCookieAsync(_server.Address, "v1/hosts", id);
        Assert.Equal(HttpStatusCode.Unauthorized, onV1.StatusCode);
    }
}
