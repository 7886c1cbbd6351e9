using System.Net;

namespace OrleansMigrate.Api.Tests;

/// <summary>GET /v1/me tells a client (the operator console) who its key is and which role it has.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class SessionApiTests(ApiFixture fixture)
{
    [Fact]
    public async Task Me_answers_each_keys_name_and_role_and_401_without_a_key()
    {
        foreach (var (key, name, role) in new[]
                 {
                     (fixture.ViewerKey, "viewer-1", "viewer"), (fixture.CloudKey, "cloud-1", "cloud-service"), (fixture.OperatorKey, "operator-1", "operator"),
                 })
        {
            using var http = fixture.Http(key);
            using var response = await http.GetAsync("v1/me");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var me = await ApiFixture.ReadJsonAsync(response);
            Assert.Equal(name, me.GetProperty("name").GetString());
            Assert.Equal(role, me.GetProperty("role").GetString());
        }

        using var anonymous = fixture.Http(null);
        using var refused = await anonymous.GetAsync("v1/me");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }
}
