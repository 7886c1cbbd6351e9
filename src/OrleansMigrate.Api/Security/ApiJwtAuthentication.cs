using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Http;

namespace OrleansMigrate.Api.Security;

/// <summary>
/// <see cref="ApiJwtOptions"/> as ASP.NET Core's JWT bearer handler, beside the API keys: a policy scheme sends a bearer
/// value shaped like a JWT (three dot-separated parts; our keys are base64 and have no dot) to the JWT handler and
/// anything else to <see cref="ApiKeyAuthenticationHandler"/>. The token's name and role claims become the same
/// <see cref="ClaimTypes.Name"/>/<see cref="ClaimTypes.Role"/> claims a key gives, so the policies, the audit log and the
/// rate limiter treat both alike. Refusals are problem+json like the keys' (the reason in words, never the token).
/// </summary>
public static class ApiJwtAuthentication
{
    public const string SchemeName = "OmigJwt";
    public const string SelectorScheme = "OmigBearer";

    public static IServiceCollection AddOmigJwt(this IServiceCollection services, OmigApiOptions options)
    {
        var jwt = options.Jwt;
        if (!jwt.Enabled)
        {
            return services;
        }

        services.AddAuthentication(SelectorScheme)
            .AddPolicyScheme(SelectorScheme, null, o => o.ForwardDefaultSelector = c => LooksLikeJwt(c.Request.Headers.Authorization.ToString())
                ? SchemeName
                : ApiKeyAuthenticationHandler.SchemeName)
            .AddJwtBearer(SchemeName, o =>
            {
                o.MapInboundClaims = false;
                if (!string.IsNullOrWhiteSpace(jwt.Authority))
                {
                    o.Authority = jwt.Authority;
                }

                o.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidateIssuer = true,
                    ValidIssuer = string.IsNullOrWhiteSpace(jwt.Issuer) ? null : jwt.Issuer,
                    ValidateAudience = true,
                    ValidAudience = jwt.Audience,
                    ValidateLifetime = true,
                    RequireExpirationTime = true,
                    ClockSkew = TimeSpan.FromSeconds(30),
                    NameClaimType = jwt.NameClaim,
                    RoleClaimType = jwt.RoleClaim,
                };
                if (!string.IsNullOrWhiteSpace(jwt.SigningKeyFile))
                {
                    o.TokenValidationParameters.IssuerSigningKey = new SymmetricSecurityKey(File.ReadAllBytes(jwt.SigningKeyFile));
                    o.TokenValidationParameters.ValidAlgorithms = [SecurityAlgorithms.HmacSha256];
                }

                o.Events = new JwtBearerEvents
                {
                    OnTokenValidated = c =>
                    {
                        var name = c.Principal?.FindFirst(jwt.NameClaim)?.Value;
                        var role = c.Principal?.FindFirst(jwt.RoleClaim)?.Value;
                        var claims = new List<Claim> { new(ClaimTypes.Name, "jwt:" + (name ?? "-")) };
                        if (role is not null && ApiRoles.All.Contains(role, StringComparer.Ordinal))
                        {
                            claims.Add(new Claim(ClaimTypes.Role, role));
                        }

                        c.Principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName, ClaimTypes.Name, ClaimTypes.Role));
                        return Task.CompletedTask;
                    },
                    OnChallenge = async c =>
                    {
                        c.HandleResponse();
                        c.Response.Headers.WWWAuthenticate = "Bearer";
                        await new ApiProblem(StatusCodes.Status401Unauthorized, "unauthenticated", "authorization", Reason(c.AuthenticateFailure)).WriteAsync(c.HttpContext);
                    },
                    OnForbidden = c =>
                    {
                        var role = c.HttpContext.User.FindFirstValue(ClaimTypes.Role) ?? "none";
                        return new ApiProblem(StatusCodes.Status403Forbidden, "forbidden", "authorization",
                            $"the token's role '{role}' may not {c.Request.Method} {RequestBody.Printable(c.Request.Path.ToString())}").WriteAsync(c.HttpContext);
                    },
                };
            });
        return services;
    }

    /// <summary><c>Bearer a.b.c</c>: a compact JWS.</summary>
    public static bool LooksLikeJwt(string header) =>
        header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.AsSpan("Bearer ".Length).Trim().Count('.') == 2;

    /// <summary>Why a token was refused, in words that name no part of it.</summary>
    private static string Reason(Exception? failure) => failure switch
    {
        null => "a bearer token or API key is required: Authorization: Bearer …",
        SecurityTokenExpiredException => "the token has expired",
        SecurityTokenNotYetValidException => "the token is not valid yet",
        SecurityTokenInvalidAudienceException => "the token's audience is not accepted",
        SecurityTokenInvalidIssuerException => "the token's issuer is not accepted",
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "the token's signature is not valid",
        SecurityTokenNoExpirationException => "the token has no expiry",
        _ => "the token is not valid",
    };
}
