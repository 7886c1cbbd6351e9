using System.Net;
using System.Text.Json;
using OrleansMigrate.Api.Hosting;

namespace OrleansMigrate.Api.Tests;

/// <summary>The OpenAPI document describes every endpoint the API maps, and the interactive docs are served.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class OpenApiTests(ApiFixture fixture)
{
    [Fact]
    public async Task Every_mapped_endpoint_appears_in_the_openapi_document()
    {
        using var anonymous = fixture.Http(null);
        using var response = await anonymous.GetAsync("openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var paths = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("paths");

        var routes = OmigApiExtensions.MappedRoutes(fixture.ApiServices);
        Assert.True(routes.Count >= 17, $"only {routes.Count} routes found: {string.Join(", ", routes)}");
        var missing = routes.Where(r =>
        {
            var (method, path) = (r[..r.IndexOf(' ')], r[(r.IndexOf(' ') + 1)..]);
            var documented = paths.TryGetProperty(path, out var item) || paths.TryGetProperty(path + "/", out item);
            return !documented || !item.TryGetProperty(method.ToLowerInvariant(), out _);
        }).ToList();
        Assert.True(missing.Count == 0, "not in /openapi/v1.json: " + string.Join(", ", missing));
    }

    [Fact]
    public async Task The_interactive_docs_are_served_at_scalar()
    {
        using var anonymous = fixture.Http(null);
        using var response = await anonymous.GetAsync("scalar");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
    }
}
