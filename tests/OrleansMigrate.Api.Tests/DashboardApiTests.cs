using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using OrleansMigrate.Api.Dashboard;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Security;

namespace OrleansMigrate.Api.Tests;

/// <summary>
/// The Orleans dashboard at /dashboard behind the API's authorization, over real HTTP against a silo running it: an
/// operator's session cookie (POST /v1/session) opens its page and its JSON endpoints (real cluster data); other roles'
/// sessions get 403, no session 401; the cookie is worth nothing on /v1; DELETE /v1/session ends it.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(DashboardCollection.Name)]
public sealed class DashboardApiTests(DashboardFixture fixture)
{
    [Fact]
    public async Task An_operators_session_cookie_sets_a_strict_http_only_cookie_scoped_to_the_dashboard()
    {
        var (setCookie, id) = await fixture.SessionAsync(fixture.OperatorKey);
        var attributes = setCookie.Split(';', StringSplitOptions.TrimEntries).Skip(1).Select(a => a.ToLowerInvariant()).ToList();
        Assert.Contains("httponly", attributes);
        Assert.Contains("samesite=strict", attributes);
        Assert.Contains("path=/dashboard", attributes);
        Assert.DoesNotContain("secure", attributes); // plain HTTP here; over HTTPS the cookie is Secure
        var maxAge = int.Parse(Assert.Single(attributes, a => a.StartsWith("max-age=", StringComparison.Ordinal))["max-age=".Length..],
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(maxAge, 8 * 3600 - 60, 8 * 3600);
        Assert.True(id.Length >= 40, "an opaque random id, not a short value");
        Assert.DoesNotContain(fixture.OperatorKey, setCookie, StringComparison.Ordinal); // never the key itself
    }

    [Fact]
    public async Task With_an_operators_cookie_the_dashboard_page_and_its_counters_answer_with_the_silo()
    {
        var (_, id) = await fixture.SessionAsync(fixture.OperatorKey);

        using (var page = await fixture.GetWithCookieAsync("dashboard/", id))
        {
            var html = await page.Content.ReadAsStringAsync();
            Assert.True(page.StatusCode == HttpStatusCode.OK, $"{(int)page.StatusCode}: {html}");
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
            Assert.Contains("index.min.js", html, StringComparison.Ordinal); // the dashboard's own single-page app
            Assert.Equal("DENY", page.Headers.GetValues("X-Frame-Options").Single());
        }

        using (var script = await fixture.GetWithCookieAsync("dashboard/index.min.js", id))
        {
            Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        }

        await DashboardFixture.CountersListSiloAsync(fixture.BaseAddress, id, DashboardFixture.SiloName);
    }

    [Fact]
    public async Task A_viewers_or_cloud_services_session_is_refused_403_and_no_or_an_unknown_cookie_401()
    {
        foreach (var key in new[] { fixture.ViewerKey, fixture.CloudKey })
        {
            var (_, id) = await fixture.SessionAsync(key);
            foreach (var path in new[] { "dashboard/", "dashboard/DashboardCounters" })
            {
                using var refused = await fixture.GetWithCookieAsync(path, id);
                await Problems.AssertAsync(refused, HttpStatusCode.Forbidden, "forbidden", "authorization");
            }
        }

        foreach (var path in new[] { "dashboard/", "dashboard/DashboardCounters", "dashboard/index.min.js" })
        {
            using var none = await fixture.GetWithCookieAsync(path, null);
            var problem = await Problems.AssertAsync(none, HttpStatusCode.Unauthorized, "unauthenticated", "cookie");
            Assert.Contains("POST /v1/session", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using var unknown = await fixture.GetWithCookieAsync("dashboard/", "not-a-session-0123456789abcdefghijklmnopqrstuvw");
        await Problems.AssertAsync(unknown, HttpStatusCode.Unauthorized, "unauthenticated", "cookie");
    }

    [Fact]
    public async Task The_cookie_is_not_accepted_on_v1_and_a_bearer_key_still_works_on_the_dashboard()
    {
        var (_, id) = await fixture.SessionAsync(fixture.OperatorKey);
        foreach (var path in new[] { "v1/hosts", "v1/me" })
        {
            using var refused = await fixture.GetWithCookieAsync(path, id);
            await Problems.AssertAsync(refused, HttpStatusCode.Unauthorized, "unauthenticated", "authorization");
        }

        using var bearer = fixture.Http(fixture.OperatorKey);
        using (var page = await bearer.GetAsync("dashboard/"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        }

        using var viewer = fixture.Http(fixture.ViewerKey);
        using var forbidden = await viewer.GetAsync("dashboard/");
        await Problems.AssertAsync(forbidden, HttpStatusCode.Forbidden, "forbidden", "authorization");
    }

    [Fact]
    public async Task Delete_session_ends_the_callers_sessions_and_clears_the_cookie()
    {
        var (_, first) = await fixture.SessionAsync(fixture.OperatorKey);
        var (_, second) = await fixture.SessionAsync(fixture.OperatorKey);
        using (var ok = await fixture.GetWithCookieAsync("dashboard/", second))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var http = fixture.Http(fixture.OperatorKey);
        using (var deleted = await http.DeleteAsync("v1/session"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
            var cleared = Assert.Single(deleted.Headers.GetValues("Set-Cookie"));
            Assert.StartsWith(DashboardSessionHandler.CookieName + "=;", cleared, StringComparison.Ordinal);
            Assert.Contains("path=/dashboard", cleared.ToLowerInvariant(), StringComparison.Ordinal);
        }

        foreach (var id in new[] { first, second })
        {
            using var ended = await fixture.GetWithCookieAsync("dashboard/", id);
            var problem = await Problems.AssertAsync(ended, HttpStatusCode.Unauthorized, "unauthenticated", "cookie");
            Assert.Contains("expired or was ended", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using var anonymous = fixture.Http();
        using var refused = await anonymous.PostAsync("v1/session", null);
        await Problems.AssertAsync(refused, HttpStatusCode.Unauthorized, "unauthenticated");
    }

    [Fact]
    public async Task Me_says_where_the_dashboard_is()
    {
        using var http = fixture.Http(fixture.OperatorKey);
        using var response = await http.GetAsync("v1/me");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("/dashboard/", (await ApiFixture.ReadJsonAsync(response)).GetProperty("dashboard").GetString());
    }
}

/// <summary>Without the dashboard (the default) nothing of it is served; with it mounted over silos that do not run it,
/// its pages answer a 503 problem saying so instead of failing inside the API.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class DashboardOffTests(ApiFixture fixture)
{
    [Fact]
    public async Task Without_the_dashboard_its_paths_and_the_session_endpoint_are_404_and_me_says_null()
    {
        using var http = fixture.Http(fixture.OperatorKey);
        foreach (var path in new[] { "dashboard/", "dashboard/DashboardCounters" })
        {
            using var missing = await http.GetAsync(path);
            await Problems.AssertAsync(missing, HttpStatusCode.NotFound, "not_found", "path");
        }

        using (var session = await http.PostAsync("v1/session", null))
        {
            await Problems.AssertAsync(session, HttpStatusCode.NotFound, "not_found", "path");
            Assert.False(session.Headers.Contains("Set-Cookie"));
        }

        using var me = await http.GetAsync("v1/me");
        Assert.Equal(System.Text.Json.JsonValueKind.Null, (await ApiFixture.ReadJsonAsync(me)).GetProperty("dashboard").ValueKind);
    }

    [Fact]
    public async Task Mounted_over_silos_without_the_dashboard_its_data_answers_503_saying_so()
    {
        await using var server = await OmigApiServer.StartAsync(fixture.Grains, new OmigApiOptions
        {
            Port = 0,
            Keys = [ApiFixture.Key("operator-1", fixture.OperatorKey, ApiRoles.Operator)],
        }, NullLoggerFactory.Instance, dashboard: true);
        using var http = DashboardFixture.Client(server.Address, fixture.OperatorKey);
        using (var page = await http.GetAsync("dashboard/"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode); // the page itself is static
        }

        using var counters = await http.GetAsync("dashboard/DashboardCounters");
        var problem = await Problems.AssertAsync(counters, HttpStatusCode.ServiceUnavailable, "unavailable", "dashboard");
        Assert.Contains("--dashboard", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        using var me = await http.GetAsync("v1/me"); // the API itself is unharmed
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
    }
}

/// <summary>The session store's expiry and bounds, on a clock the test moves.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DashboardSessionsTests
{
    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 2, 9, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void A_session_lasts_eight_hours_or_until_its_credential_expires_if_sooner()
    {
        var clock = new ManualClock();
        var sessions = new DashboardSessions(clock);
        var (id, expires) = sessions.Create("ops", ApiRoles.Operator, null)!.Value;
        Assert.Equal(clock.Now + TimeSpan.FromHours(8), expires);
        Assert.Equal("ops", sessions.Find(id)?.Name);
        clock.Now += TimeSpan.FromHours(8) - TimeSpan.FromSeconds(1);
        Assert.NotNull(sessions.Find(id));
        clock.Now += TimeSpan.FromSeconds(1);
        Assert.Null(sessions.Find(id));

        var (jwt, jwtExpires) = sessions.Create("jwt:alice", ApiRoles.Operator, clock.Now + TimeSpan.FromMinutes(5))!.Value;
        Assert.Equal(clock.Now + TimeSpan.FromMinutes(5), jwtExpires);
        clock.Now += TimeSpan.FromMinutes(5);
        Assert.Null(sessions.Find(jwt));
        Assert.Null(sessions.Find(""));
        Assert.Null(sessions.Find(new string('a', 500)));
    }

    [Fact]
    public void A_callers_sessions_are_capped_oldest_first_and_remove_all_ends_only_theirs()
    {
        var clock = new ManualClock();
        var sessions = new DashboardSessions(clock);
        var ids = new List<string>();
        for (var i = 0; i < DashboardSessions.MaxPerCaller + 2; i++)
        {
            ids.Add(sessions.Create("ops", ApiRoles.Operator, null)!.Value.Id);
            clock.Now += TimeSpan.FromSeconds(1);
        }

        var other = sessions.Create("other", ApiRoles.Viewer, null)!.Value.Id;
        Assert.Null(sessions.Find(ids[0]));
        Assert.Null(sessions.Find(ids[1]));
        Assert.All(ids.Skip(2), id => Assert.NotNull(sessions.Find(id)));
        Assert.Equal(DashboardSessions.MaxPerCaller + 1, sessions.Count);

        Assert.Equal(DashboardSessions.MaxPerCaller, sessions.RemoveAll("ops"));
        Assert.All(ids, id => Assert.Null(sessions.Find(id)));
        Assert.Equal(ApiRoles.Viewer, sessions.Find(other)?.Role);
    }
}
