namespace OrleansMigrate.Api.Hosting;

/// <summary>
/// The HTTP API's settings (section <c>OmigApi</c> in the silo's configuration: <c>--api-port</c>, <c>OmigApi__Keys__0__Sha256</c>…). Without a key the API refuses to start unless
/// <see cref="InsecureNoAuth"/> is set: an open control plane that can move every VM must be a choice someone wrote down.
/// </summary>
public sealed class OmigApiOptions
{
    public const string Section = "OmigApi";

    /// <summary>Loopback-or-any TCP port Kestrel listens on; 0 leaves the API off (the silo's default).</summary>
    public int Port { get; set; }

    /// <summary>The address to listen on; loopback by default so a test or a single machine does not expose it.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>Bearer keys, stored as SHA-256 hashes only: a leaked configuration file leaks no usable key.</summary>
    public List<ApiKeyOptions> Keys { get; set; } = [];

    /// <summary>With no key configured, serve every request as the operator <c>anonymous</c> (tests, a laptop); logged
    /// loudly at start. With keys configured it changes nothing: the keys are required.</summary>
    public bool InsecureNoAuth { get; set; }

    /// <summary>Serve plain HTTP although the cluster runs TLS (<c>--api-insecure-http</c>); otherwise such a process serves
    /// HTTPS with its cluster certificate (<see cref="ApiHttps"/>).</summary>
    public bool InsecureHttp { get; set; }

    /// <summary>Largest request body accepted; larger ones get 413 before anything is read into a grain call.</summary>
    public int MaxBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Most VMs one filtered <c>GET /v1/vms</c> page reads before it answers (short, with a <c>next</c> that resumes
    /// after the last VM read): a filter that matches few VMs never makes one request read the whole fleet.</summary>
    public int MaxVmScan { get; set; } = 5000;

    /// <summary>How long an <c>Idempotency-Key</c>'s answer is replayed (hours).</summary>
    public double IdempotencyHours { get; set; } = 24;

    /// <summary>Serve <c>/metrics</c> to callers without credentials (<c>--api-metrics-anonymous</c>); otherwise it needs the
    /// viewer role or higher, like every read.</summary>
    public bool MetricsAnonymous { get; set; }

    /// <summary>JWT bearer tokens beside the keys; off unless configured.</summary>
    public Security.ApiJwtOptions Jwt { get; set; } = new();

    /// <summary>A token bucket per caller; off unless <c>RequestsPerSecond</c> is set.</summary>
    public Security.ApiRateLimitOptions RateLimit { get; set; } = new();

    /// <summary>The problems with these settings, one line each; empty when usable.</summary>
    public List<string> Check()
    {
        var errors = new List<string>();
        if (Port is < 0 or > 65535)
        {
            errors.Add($"{Section}:Port: {Port} is not a TCP port (1-65535)");
        }

        if (!System.Net.IPAddress.TryParse(Address, out _))
        {
            errors.Add($"{Section}:Address: '{Address}' is not an IP address");
        }

        if (MaxVmScan is < 1 or > 1_000_000)
        {
            errors.Add($"{Section}:MaxVmScan: must be 1-1000000");
        }

        if (MaxBodyBytes is < 1024 or > 16 * 1024 * 1024)
        {
            errors.Add($"{Section}:MaxBodyBytes: must be 1024-16777216");
        }

        if (IdempotencyHours is <= 0 or > 24 * 30)
        {
            errors.Add($"{Section}:IdempotencyHours: must be above 0 and at most 720");
        }

        errors.AddRange(Jwt.Check().Select(e => $"{Section}:{e}"));
        errors.AddRange(RateLimit.Check().Select(e => $"{Section}:{e}"));
        if (Keys.Count == 0 && !InsecureNoAuth && !Jwt.Enabled)
        {
            errors.Add($"{Section}:Keys: no API key is configured; add one (name, SHA-256 of the key, role) or start with --api-insecure-no-auth to serve without authentication");
        }

        for (var i = 0; i < Keys.Count; i++)
        {
            errors.AddRange(Keys[i].Check().Select(e => $"{Section}:Keys:{i}:{e}"));
        }

        foreach (var dup in Keys.GroupBy(k => k.Name, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            errors.Add($"{Section}:Keys: the name '{dup.Key}' is used twice (the audit log names callers by it)");
        }

        return errors;
    }
}

/// <summary>One bearer key: a name (written to the audit log), the hex SHA-256 of the key, and its role.</summary>
public sealed class ApiKeyOptions
{
    public string Name { get; set; } = "";

    /// <summary>64 hex digits: <c>printf %s "$KEY" | sha256sum</c>.</summary>
    public string Sha256 { get; set; } = "";

    /// <summary><c>viewer</c>, <c>cloud-service</c> or <c>operator</c>.</summary>
    public string Role { get; set; } = "";

    public IEnumerable<string> Check()
    {
        if (!Fleet.FleetValidation.IsValidId(Name))
        {
            yield return "Name: must be 1-63 lower-case letters, digits and '-'";
        }

        if (Sha256.Length != 64 || !Sha256.All(char.IsAsciiHexDigit))
        {
            yield return "Sha256: must be the 64 hex digits of the key's SHA-256";
        }

        if (!Security.ApiRoles.All.Contains(Role, StringComparer.Ordinal))
        {
            yield return $"Role: '{Role}' is not one of {string.Join(", ", Security.ApiRoles.All)}";
        }
    }
}
