using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OrleansMigrate.Api.Security;

namespace OrleansMigrate.Api.Tests;

/// <summary>An identity provider for tests: a symmetric signing key in a temporary file, the <see cref="ApiJwtOptions"/>
/// that trust it, and tokens signed with it (or with another key, to be refused).</summary>
public sealed class TestJwt : IDisposable
{
    public const string Issuer = "https://idp.test";
    public const string Audience = "omig-api";
    public const string RoleClaim = "omig_role";

    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    private readonly string _keyFile = Path.Combine(Path.GetTempPath(), $"omig-jwt-{Guid.NewGuid():N}.key");

    public TestJwt() => File.WriteAllBytes(_keyFile, _key);

    public ApiJwtOptions Options => new() { Issuer = Issuer, Audience = Audience, SigningKeyFile = _keyFile, RoleClaim = RoleClaim };

    /// <summary>A token for <paramref name="subject"/> with <paramref name="role"/>, valid from <paramref name="notBefore"/>
    /// to <paramref name="expires"/>.</summary>
    public string Token(string subject, string role, DateTime notBefore, DateTime expires, byte[]? key = null, string audience = Audience, string roleClaim = RoleClaim) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = audience,
            Subject = new ClaimsIdentity([new Claim("sub", subject), new Claim(roleClaim, role)]),
            NotBefore = notBefore,
            IssuedAt = notBefore,
            Expires = expires,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(key ?? _key), SecurityAlgorithms.HmacSha256),
        });

    public void Dispose() => File.Delete(_keyFile);
}
