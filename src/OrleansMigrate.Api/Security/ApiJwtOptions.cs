namespace OrleansMigrate.Api.Security;

/// <summary>
/// JWT bearer tokens beside the API keys (section <c>OmigApi:Jwt</c>): an issuer, an audience and either a symmetric
/// signing key read from a file (HS256; tests, a small installation) or an OIDC authority whose published keys sign the
/// tokens (production). The caller's role is the value of <see cref="RoleClaim"/> (viewer, cloud-service or operator).
/// Off while no setting is given.
/// </summary>
public sealed class ApiJwtOptions
{
    /// <summary>The <c>iss</c> a token must carry. Required with <see cref="SigningKeyFile"/>; with <see cref="Authority"/>
    /// it defaults to the authority's own.</summary>
    public string? Issuer { get; set; }

    /// <summary>The <c>aud</c> a token must carry.</summary>
    public string? Audience { get; set; }

    /// <summary>A file whose bytes are the HMAC-SHA256 key (at least 32 bytes: <c>head -c 32 /dev/urandom &gt; jwt.key</c>).
    /// A file, not a setting, so the key stays out of command lines and configuration dumps.</summary>
    public string? SigningKeyFile { get; set; }

    /// <summary>An OIDC authority (https), whose discovery document gives the issuer and signing keys.</summary>
    public string? Authority { get; set; }

    /// <summary>The claim holding the role; <c>role</c> unless the identity provider names it otherwise.</summary>
    public string RoleClaim { get; set; } = "role";

    /// <summary>The claim naming the caller in the audit log and the rate limiter; <c>sub</c> by default.</summary>
    public string NameClaim { get; set; } = "sub";

    public bool Enabled => !string.IsNullOrWhiteSpace(Issuer) || !string.IsNullOrWhiteSpace(Audience)
        || !string.IsNullOrWhiteSpace(SigningKeyFile) || !string.IsNullOrWhiteSpace(Authority);

    public IEnumerable<string> Check()
    {
        if (!Enabled)
        {
            yield break;
        }

        if (string.IsNullOrWhiteSpace(Audience))
        {
            yield return "Jwt:Audience: required when JWT bearer tokens are configured";
        }

        var hasFile = !string.IsNullOrWhiteSpace(SigningKeyFile);
        var hasAuthority = !string.IsNullOrWhiteSpace(Authority);
        if (hasFile == hasAuthority)
        {
            yield return "Jwt: give exactly one of SigningKeyFile (a symmetric key) and Authority (an OIDC issuer)";
        }

        if (hasFile)
        {
            if (string.IsNullOrWhiteSpace(Issuer))
            {
                yield return "Jwt:Issuer: required with Jwt:SigningKeyFile";
            }

            if (!File.Exists(SigningKeyFile))
            {
                yield return $"Jwt:SigningKeyFile: no file at '{SigningKeyFile}'";
            }
            else if (new FileInfo(SigningKeyFile!).Length < 32)
            {
                yield return "Jwt:SigningKeyFile: the key must be at least 32 bytes (HMAC-SHA256)";
            }
        }

        if (hasAuthority && !(Uri.TryCreate(Authority, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps))
        {
            yield return $"Jwt:Authority: '{Authority}' is not an https URL";
        }

        if (string.IsNullOrWhiteSpace(RoleClaim) || string.IsNullOrWhiteSpace(NameClaim))
        {
            yield return "Jwt:RoleClaim and Jwt:NameClaim: must name a claim";
        }
    }
}
