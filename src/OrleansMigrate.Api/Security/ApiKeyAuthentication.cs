using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Http;

namespace OrleansMigrate.Api.Security;

/// <summary>
/// <c>Authorization: Bearer KEY</c> against the configured SHA-256 hashes (compared in constant time). The key's name
/// becomes the caller's name in the audit log. With <see cref="OmigApiOptions.InsecureNoAuth"/> every request is the
/// operator <c>anonymous</c>. Refusals answer with problem+json (401, 403), never with an empty body.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<OmigApiOptions> api) : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, logger, encoder)
{
    public const string SchemeName = "OmigApiKey";

    private readonly (string Name, byte[] Hash, string Role)[] _keys =
        [.. api.Value.Keys.Select(k => (k.Name, Convert.FromHexString(k.Sha256), k.Role))];

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (api.Value.InsecureNoAuth && _keys.Length == 0 && !api.Value.Jwt.Enabled)
        {
            return Task.FromResult(Success("anonymous", ApiRoles.Operator));
        }

        var header = Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length > 512)
        {
            return Task.FromResult(AuthenticateResult.Fail("the Authorization header is not 'Bearer KEY'"));
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()));
        foreach (var (name, expected, role) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, expected))
            {
                return Task.FromResult(Success(name, role));
            }
        }

        return Task.FromResult(AuthenticateResult.Fail("the API key is not known"));
    }

    private AuthenticateResult Success(string name, string role)
    {
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, name), new Claim(ClaimTypes.Role, role)], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        Response.Headers.WWWAuthenticate = "Bearer";
        await new ApiProblem(StatusCodes.Status401Unauthorized, "unauthenticated", "authorization",
            result.Failure?.Message ?? "an API key is required: Authorization: Bearer KEY").WriteAsync(Context);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var role = Context.User.FindFirstValue(ClaimTypes.Role) ?? "none";
        return new ApiProblem(StatusCodes.Status403Forbidden, "forbidden", "authorization",
            $"the key's role '{role}' may not {Request.Method} {RequestBody.Printable(Request.Path.ToString())}").WriteAsync(Context);
    }
}
