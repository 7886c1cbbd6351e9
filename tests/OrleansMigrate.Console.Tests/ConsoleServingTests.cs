using System.Net;
using OrleansMigrate.Api.OperatorConsole;

namespace OrleansMigrate.OperatorConsole.Tests;

/// <summary>The console's files are served by the API's own Kestrel, with a strict CSP; no browser needed.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ConsoleCollection.Name)]
public sealed class ConsoleServingTests(ConsoleFixture fixture)
{
    [Fact]
    public async Task The_root_and_console_without_a_slash_redirect_to_the_console()
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = fixture.BaseAddress };
        foreach (var path in new[] { "/", "/console" })
        {
            using var response = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            Assert.Equal("/console/", response.Headers.Location?.ToString());
        }
    }

    [Fact]
    public async Task Every_console_file_is_served_with_its_type_a_strict_csp_and_an_etag()
    {
        using var http = new HttpClient { BaseAddress = fixture.BaseAddress };
        Assert.Contains("index.html", ConsoleEndpoints.FileNames);
        Assert.Contains("app.js", ConsoleEndpoints.FileNames);
        foreach (var name in ConsoleEndpoints.FileNames)
        {
            using var response = await http.GetAsync("/console/" + name);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var type = response.Content.Headers.ContentType?.MediaType;
            Assert.Equal(Path.GetExtension(name) switch { ".html" => "text/html", ".js" => "text/javascript", ".css" => "text/css", _ => type }, type);
            var csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("script-src 'self'", csp);
            Assert.Contains("default-src 'none'", csp);

            using var again = new HttpRequestMessage(HttpMethod.Get, "/console/" + name);
            again.Headers.IfNoneMatch.Add(response.Headers.ETag!);
            using var cached = await http.SendAsync(again);
            Assert.Equal(HttpStatusCode.NotModified, cached.StatusCode);
        }

        using var index = await http.GetAsync("/console/");
        Assert.Contains("<script type=\"module\" src=\"app.js\">", await index.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_file_the_console_does_not_have_is_a_404_problem()
    {
        using var http = new HttpClient { BaseAddress = fixture.BaseAddress };
        foreach (var path in new[] { "/console/nope.js", "/console/sub/index.html", "/console/%2e%2e%2fappsettings.json", "/console/ConsoleEndpoints.cs" })
        {
            using var response = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"{path}: {response.Content.Headers.ContentType}");
        }
    }
}
