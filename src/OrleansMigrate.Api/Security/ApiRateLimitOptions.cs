namespace OrleansMigrate.Api.Security;

/// <summary>
/// A token bucket per caller (the key's or token's name; the remote address for a call without credentials), section
/// <c>OmigApi:RateLimit</c>. Off while <see cref="RequestsPerSecond"/> is 0 (the default): a cloud's API gateway often limits
/// already, and the limit that fits depends on the callers.
/// </summary>
public sealed class ApiRateLimitOptions
{
    /// <summary>Tokens added to each caller's bucket per second; 0 turns the limit off.</summary>
    public int RequestsPerSecond { get; set; }

    /// <summary>The bucket's size: how many calls a caller may make at once after a quiet spell (at least 1).</summary>
    public int Burst { get; set; } = 100;

    public bool Enabled => RequestsPerSecond > 0;

    public IEnumerable<string> Check()
    {
        if (RequestsPerSecond is < 0 or > 1_000_000)
        {
            yield return "RateLimit:RequestsPerSecond: must be 0 (off) to 1000000";
        }

        if (Burst is < 1 or > 1_000_000)
        {
            yield return "RateLimit:Burst: must be 1-1000000";
        }
    }
}
