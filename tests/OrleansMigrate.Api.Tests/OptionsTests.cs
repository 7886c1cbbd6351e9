using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Security;

namespace OrleansMigrate.Api.Tests;

/// <summary>The API's settings: no key means no API unless the insecure mode is chosen; keys are checked one by one.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class OptionsTests
{
    [Fact]
    public void Without_a_key_the_api_refuses_to_start_unless_insecure_mode_is_explicit()
    {
        var errors = new OmigApiOptions { Port = 8080 }.Check();
        Assert.Contains(errors, e => e.Contains("Keys", StringComparison.Ordinal) && e.Contains("--api-insecure-no-auth", StringComparison.Ordinal));
        Assert.Empty(new OmigApiOptions { Port = 8080, InsecureNoAuth = true }.Check());
        Assert.Throws<ArgumentException>(() => new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddOmigApi(new OmigApiOptions()));
    }

    [Fact]
    public void A_key_needs_a_name_a_sha256_and_a_known_role_and_names_are_unique()
    {
        var good = ApiFixture.Key("svc-a", "secret", ApiRoles.CloudService);
        Assert.Empty(new OmigApiOptions { Keys = [good] }.Check());

        var errors = new OmigApiOptions
        {
            Keys = [new ApiKeyOptions { Name = "Bad Name", Sha256 = "abc", Role = "admin" }, good, ApiFixture.Key("svc-a", "other", ApiRoles.Viewer)],
        }.Check();
        Assert.Contains(errors, e => e.StartsWith("OmigApi:Keys:0:Name", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("OmigApi:Keys:0:Sha256", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("OmigApi:Keys:0:Role", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'svc-a' is used twice", StringComparison.Ordinal));
    }
}
