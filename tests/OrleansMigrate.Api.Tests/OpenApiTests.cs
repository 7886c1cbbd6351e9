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
    public async Task The_document_spells_fields_and_enums_as_the_api_sends_them_and_describes_problems()
    {
        using var anonymous = fixture.Http(null);
        var document = JsonDocument.Parse(await anonymous.GetStringAsync("openapi/v1.json")).RootElement;
        var schemas = document.GetProperty("components").GetProperty("schemas");
        var create = schemas.GetProperty("MigrationCreate").GetProperty("properties");
        Assert.True(create.TryGetProperty("vm_id", out _) && create.TryGetProperty("destination_host", out _), create.ToString());
        Assert.True(schemas.GetProperty("HostRecord").GetProperty("properties").TryGetProperty("free_memory_mib", out _));
        var migration = schemas.GetProperty("MigrationStatus").GetProperty("properties");
        Assert.True(migration.TryGetProperty("switchover_reason", out _) && migration.TryGetProperty("queued_reason", out _), migration.ToString());
        Assert.Contains(schemas.GetProperty("MigrationPhase").GetProperty("enum").EnumerateArray(), e => e.GetString() == "rolled_back");
        Assert.True(schemas.GetProperty("ProblemDocument").GetProperty("properties").TryGetProperty("code", out _));
        Assert.True(document.GetProperty("paths").GetProperty("/v1/vms").GetProperty("post").GetProperty("responses").TryGetProperty("422", out _));
        Assert.True(document.GetProperty("components").GetProperty("securitySchemes").TryGetProperty("api-key", out _));
    }

    [Fact]
    public async Task The_campaign_endpoints_are_described_with_their_schema()
    {
        using var anonymous = fixture.Http(null);
        var document = JsonDocument.Parse(await anonymous.GetStringAsync("openapi/v1.json")).RootElement;
        var paths = document.GetProperty("paths");
        foreach (var (path, method, status) in new[]
        {
            ("/v1/campaigns", "post", "202"), ("/v1/campaigns", "get", "200"), ("/v1/campaigns/{campaignId}", "get", "200"),
            ("/v1/campaigns/{campaignId}/pause", "post", "200"), ("/v1/campaigns/{campaignId}/resume", "post", "200"),
            ("/v1/campaigns/{campaignId}/abort", "post", "202"),
        })
        {
            var item = paths.TryGetProperty(path, out var p) ? p : paths.GetProperty(path + "/");
            var content = item.GetProperty(method).GetProperty("responses").GetProperty(status).GetProperty("content");
            Assert.True(content.GetProperty("application/json").TryGetProperty("schema", out _), $"{method} {path}: no schema for {status}");
        }

        var schemas = document.GetProperty("components").GetProperty("schemas");
        Assert.True(schemas.GetProperty("CampaignStatus").GetProperty("properties").TryGetProperty("hosts", out _));
        var unmovable = schemas.GetProperty("CampaignHost").GetProperty("properties").GetProperty("unmovable");
        Assert.Contains("array", unmovable.GetProperty("type").ToString());
        Assert.Equal("string", unmovable.GetProperty("items").GetProperty("type").GetString());
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
